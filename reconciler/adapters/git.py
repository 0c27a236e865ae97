"""The few git operations ipass needs to record state in the repository: commit, push, fetch.

Git is run as a subprocess with an argument list (never a shell), no terminal prompts and a
time limit; its output is returned for messages but never trusted as instructions.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.errors import InvalidInput

GIT_TIMEOUT: Final = 120.0
# What git says when a push lost the race: the branch moved since we fetched it.
_REJECTED: Final = (
    "[rejected]",
    "non-fast-forward",
    "fetch first",
    "stale info",
    "! [remote rejected]",
)


class GitError(InvalidInput):
    """A git command failed for a reason other than a lost race."""


@dataclass(frozen=True)
class Git:
    root: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            done = subprocess.run(
                ["git", *args],  # noqa: S607 - git found on PATH, as a user's shell finds it
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
                env=env,
            )
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH)") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"`git {args[0]}` did not finish in {GIT_TIMEOUT:.0f} s") from None
        if check and done.returncode != 0:
            raise GitError(
                f"`git {' '.join(args[:2])}` failed: {_last_line(done.stderr)}",
                hint="run the same git command by hand to see why",
            )
        return done

    def top_level(self) -> Path:
        return Path(self.run("rev-parse", "--show-toplevel").stdout.strip())

    def current_branch(self) -> str | None:
        done = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def has_changes(self, paths: list[str]) -> bool:
        done = self.run("status", "--porcelain", "--untracked-files=all", "--", *paths)
        return bool(done.stdout.strip())

    def commit(self, paths: list[str], message: str, *, author: str) -> bool:
        """Commit these paths (added or changed) alone; False when there was nothing to commit."""
        if not self.has_changes(paths):
            return False
        self.run("add", "--", *paths)
        name, email = _identity(author)
        self.run(
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email}",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
            "--",
            *paths,
        )
        return True

    def push(self, remote: str, branch: str) -> bool:
        """Push HEAD to the branch; False when the remote refused because the branch moved."""
        done = self.run("push", "--porcelain", remote, f"HEAD:refs/heads/{branch}", check=False)
        if done.returncode == 0:
            return True
        said = done.stdout + done.stderr
        if any(marker in said for marker in _REJECTED):
            return False
        raise GitError(f"`git push {remote} {branch}` failed: {_last_line(done.stderr)}")

    def fetch(self, remote: str, branch: str) -> str:
        """Fetch the branch; its commit id."""
        self.run("fetch", "--quiet", remote, f"refs/heads/{branch}")
        return self.run("rev-parse", "FETCH_HEAD").stdout.strip()

    def merge_base(self, one: str, other: str) -> str:
        return self.run("merge-base", one, other).stdout.strip()

    def changed(self, since: str, until: str, paths: list[str]) -> bool:
        done = self.run("diff", "--quiet", since, until, "--", *paths, check=False)
        return done.returncode != 0

    def rebase(self, onto: str) -> None:
        done = self.run("rebase", "--quiet", onto, check=False)
        if done.returncode != 0:
            self.run("rebase", "--abort", check=False)
            raise GitError(
                f"could not rebase the state commit onto {onto[:12]}: {_last_line(done.stderr)}"
            )


def _identity(author: str) -> tuple[str, str]:
    """A commit identity from the operator: `name <email>`, an email, or a plain name."""
    if "@" in author and " " not in author:
        return author.split("@", 1)[0] or "ipass", author
    return author or "ipass", "ipass@localhost"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
