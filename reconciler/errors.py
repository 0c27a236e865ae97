"""The exit-code table and the one exception hierarchy every layer raises.

Subclasses are chosen by what the user must do next; each message says what went wrong, where,
and how to fix it. The command line maps them to exit codes in exactly one place.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Self


class ExitCode(IntEnum):
    """Exit codes are part of the interface (DESIGN.md)."""

    OK = 0
    INVALID_INPUT = 1
    PLAN_HAS_CHANGES = 2
    CONFLICT = 3
    VENDOR_REJECTED = 4
    OUTCOME_UNKNOWN = 5
    CREDENTIALS = 6
    BUG = 70  # EX_SOFTWARE (sysexits.h): a bug in ipass, its traceback in a crash file
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

    @classmethod
    def refused(cls, path: str | os.PathLike[str], action: str, error: OSError) -> Self:
        """`<path>: cannot <action>: <reason>` for an operating-system error, with its fix."""
        refusal = os_refusal(error) or OsRefusal(
            error.strerror or str(error) or type(error).__name__,
            "check the disk and the permissions of the folder, then run the command again",
        )
        return cls(f"{os.fspath(path)}: cannot {action}: {refusal.reason}", hint=refusal.hint)


class InvalidInput(IpassError):
    """The catalog, the configuration or the command line is wrong: fix the input."""

    exit_code = ExitCode.INVALID_INPUT


class ConflictError(IpassError):
    """State, saved plan or lock conflict: re-plan, wait, or resolve the conflict."""

    exit_code = ExitCode.CONFLICT


class StorageError(ConflictError):
    """The operating system refused to write one of ipass's own files (state, journal, lock,
    saved plan): free space or fix permissions, then check the state before running again."""


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


@dataclass(frozen=True)
class OsRefusal:
    """An operating-system error the user can fix: what it means in plain words, what to do."""

    reason: str
    hint: str


_PERMISSION = OsRefusal(
    "permission denied",
    "check the permissions of the file and of its folder (`ls -ld`), or run ipass as the user "
    "who owns them",
)
_TOO_MANY_FILES = OsRefusal(
    "too many open files", "raise the open-file limit (`ulimit -n`), then run the command again"
)
_IN_USE = OsRefusal(
    "the file is in use", "wait for the process using it to finish, then run the command again"
)
_REFUSALS: Final[dict[int, OsRefusal]] = {
    errno.ENOSPC: OsRefusal(
        "no space left on the device", "free some disk space, then run the command again"
    ),
    errno.EDQUOT: OsRefusal(
        "disk quota exceeded", "free space within your quota (or ask for a larger one)"
    ),
    errno.EFBIG: OsRefusal("the file is too large for this file system", "free some space"),
    errno.EACCES: _PERMISSION,
    errno.EPERM: _PERMISSION,
    errno.EROFS: OsRefusal(
        "the file system is read-only",
        "run ipass in a folder it may write to (a writable checkout), or remount it read-write",
    ),
    errno.ENOENT: OsRefusal(
        "no such file or folder", "check the path (and -C/--project-dir); create missing folders"
    ),
    errno.EISDIR: OsRefusal("is a folder, not a file", "give the path of a file"),
    errno.ENOTDIR: OsRefusal(
        "a part of the path is a file, not a folder", "check each folder in the path"
    ),
    errno.ELOOP: OsRefusal(
        "is a symbolic link, and ipass does not follow a link here (or the links form a loop)",
        "replace the link with the real file or folder, or give ipass the real path",
    ),
    errno.ENAMETOOLONG: OsRefusal("the name is too long", "use a shorter path"),
    errno.EEXIST: OsRefusal("already exists", "move it away or choose another name"),
    errno.EMFILE: _TOO_MANY_FILES,
    errno.ENFILE: _TOO_MANY_FILES,
    errno.EBUSY: _IN_USE,
    errno.ETXTBSY: _IN_USE,
    errno.EIO: OsRefusal(
        "input/output error: the disk or the network file system failed",
        "check the disk (`dmesg`), then run the command again",
    ),
    errno.EADDRINUSE: OsRefusal(
        "the address is already in use",
        "another process listens on that port: choose another port or stop that process",
    ),
    errno.EADDRNOTAVAIL: OsRefusal(
        "the address is not one of this machine's", "use 127.0.0.1 or an address of this machine"
    ),
}


def os_refusal(error: OSError) -> OsRefusal | None:
    """What `error` means and how to fix it; None when the user cannot fix it (a bug in ipass)."""
    return _REFUSALS.get(error.errno) if error.errno is not None else None
