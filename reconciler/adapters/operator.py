"""Who is changing the state: recorded with every event."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from reconciler.adapters.git import Git, GitError

OPERATOR_MAX: Final = 128


def current_operator(project_root: Path, environ: Mapping[str, str] | None = None) -> str:
    """`IPASS_OPERATOR`, else `GITHUB_ACTOR` in GitHub Actions, else git's user.email, else
    user@host."""
    env = os.environ if environ is None else environ
    for candidate in (
        env.get("IPASS_OPERATOR", ""),
        env.get("GITHUB_ACTOR", "") if env.get("GITHUB_ACTIONS") == "true" else "",
    ):
        if candidate.strip():
            return _clean(candidate)
    email = _git_email(project_root)
    if email:
        return _clean(email)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        user = f"uid{os.getuid()}"
    return _clean(f"{user}@{socket.gethostname()}")


def _git_email(root: Path) -> str:
    try:
        done = Git(root).run("config", "user.email", check=False)
    except GitError:  # no git, or it hung: the next fallback names the operator
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _clean(text: str) -> str:
    """One printable line: an operator name is shown in history and plans."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return printable[:OPERATOR_MAX] or "unknown"
