"""The exit-code table and the one exception hierarchy every layer raises.

Subclasses are chosen by what the user must do next; each message says what went wrong, where,
and how to fix it. The command line maps them to exit codes in exactly one place.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are part of the interface (DESIGN.md)."""

    OK = 0
    INVALID_INPUT = 1
    PLAN_HAS_CHANGES = 2
    CONFLICT = 3
    VENDOR_REJECTED = 4
    OUTCOME_UNKNOWN = 5
    CREDENTIALS = 6
    INTERRUPTED = 130


class IpassError(Exception):
    """Base of every error the user is meant to read. `hint` says what to do next."""

    exit_code: ExitCode = ExitCode.INVALID_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(IpassError):
    """The catalog, the configuration or the command line is wrong: fix the input."""

    exit_code = ExitCode.INVALID_INPUT


class ConflictError(IpassError):
    """State, saved plan or lock conflict: re-plan, wait, or resolve the conflict."""

    exit_code = ExitCode.CONFLICT


class VendorRejected(IpassError):
    """AlipayHK definitely did not act on the request (result status F, or it was never sent)."""

    exit_code = ExitCode.VENDOR_REJECTED


class OutcomeUnknown(IpassError):
    """The request may or may not have taken effect at AlipayHK: reconcile before retrying."""

    exit_code = ExitCode.OUTCOME_UNKNOWN


class CredentialsError(IpassError):
    """A key or credential is missing, unreadable, too weak or unsafe: fix the key setup."""

    exit_code = ExitCode.CREDENTIALS


class Interrupted(IpassError):
    """Stopped by SIGINT/SIGTERM after recording the request in flight."""

    exit_code = ExitCode.INTERRUPTED
