"""Recording the state in git: commit the environment's state file and push it.

The push is the compare-and-swap. When the remote refuses because the branch moved, ipass
fetches it: if the state file changed upstream since this run read it (another apply, a person's
`state resolve`), it stops with a conflict and never forces; if only other files changed (a
catalog merge), the state commit is rebased onto the new branch and pushed again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.adapters.git import Git, GitError
from reconciler.domain.config import Target
from reconciler.errors import ConflictError, InvalidInput
from reconciler.usecases.apply import ApplyReport

PUSH_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class PushResult:
    committed: bool
    pushed: bool
    attempts: int
    branch: str


@dataclass
class StateRecorder:
    """Commits and pushes one environment's state file."""

    git: Git
    state_file: Path
    remote: str
    branch: str
    author: str
    # The commit this run's state was read from: upstream changes to the state file since
    # then are a conflict.
    base: str

    def record(self, message: str) -> PushResult:
        path = [os.path.relpath(self.state_file, self.git.root)]
        committed = self.git.commit(path, message, author=self.author)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            if self.git.push(self.remote, self.branch):
                # What is on the remote now holds this run's state: later pushes compare to it.
                self.base = self.git.run("rev-parse", "HEAD").stdout.strip()
                return PushResult(committed, True, attempt, self.branch)
            upstream = self.git.fetch(self.remote, self.branch)
            fork = self.git.merge_base(self.base, upstream)
            if self.git.changed(fork, upstream, path):
                raise ConflictError(
                    f"{path[0]} changed on {self.remote}/{self.branch} since this run read it "
                    f"(now at {upstream[:12]}); nothing was forced",
                    hint="another apply or a state change won the race: fetch, look at "
                    "`ipass plan` again on the new state, and run the pipeline again",
                )
            self.git.rebase(upstream)
        raise ConflictError(
            f"the push to {self.remote}/{self.branch} was refused {PUSH_ATTEMPTS} times",
            hint="the branch keeps moving; run `ipass state push` again",
        )


def state_recorder(
    target: Target, *, author: str, remote: str = "origin", branch: str | None = None
) -> StateRecorder:
    """A recorder for the target's state file in the git work tree that holds it."""
    if target.embedded:
        raise InvalidInput(
            f"environment {target.name!r} is the embedded sandbox: its state lives under "
            ".ipass/ and is never committed",
            hint="state push is for environments whose state/ file is committed to git",
        )
    git = Git(target.root)
    try:
        git.top_level()
    except GitError:
        raise InvalidInput(
            f"{target.root} is not in a git work tree", hint="state push commits to git"
        ) from None
    chosen = branch or git.current_branch() or os.environ.get("GITHUB_REF_NAME") or ""
    if not chosen:
        raise InvalidInput(
            "no branch to push to (HEAD is detached)", hint="give --branch NAME, e.g. main"
        )
    base = git.run("rev-parse", "HEAD").stdout.strip()
    return StateRecorder(git, target.state_file, remote, chosen, author, base)


@dataclass(frozen=True)
class GitPublisher:
    """Apply's publisher: the intent and the outcomes of a run, each a pushed commit."""

    recorder: StateRecorder

    def intent(self, environment: str, keys: list[str]) -> None:
        self.recorder.record(intent_message(environment, keys))

    def outcome(self, environment: str, report: ApplyReport) -> None:
        self.recorder.record(outcome_message(environment, report.created, report.retired))


def intent_message(environment: str, keys: list[str]) -> str:
    head = f"ipass: intent to create {len(keys)} template{'s' if len(keys) != 1 else ''}"
    return f"{head} in {environment}\n\nRecorded as pending before anything is sent:\n" + "".join(
        f"- {key}\n" for key in keys
    )


def outcome_message(environment: str, created: list[tuple[str, str]], retired: list[str]) -> str:
    head = f"ipass: {len(created)} created, {len(retired)} retired in {environment}"
    lines = [f"- {key}: {code}\n" for key, code in created]
    lines += [f"- {key}: retired\n" for key in retired]
    return head + ("\n\n" + "".join(lines) if lines else "\n")
