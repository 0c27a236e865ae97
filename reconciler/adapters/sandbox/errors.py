"""What can go wrong when running the sandbox, by what the user must do next."""

from __future__ import annotations

from reconciler.errors import CredentialsError, InvalidInput


class SandboxError(InvalidInput):
    """The sandbox cannot start or cannot do what was asked: fix the command or its data."""


class RemoteBindRefused(SandboxError):
    """Asked to listen on an address other people can reach, without `--allow-remote`."""


class SandboxDataError(SandboxError):
    """The data folder or its database is unusable."""


class SandboxKeyError(CredentialsError):
    """A key file of the sandbox (or one offered for registration) is missing or unusable."""
