"""The command sequence the pull-request pipeline runs, end to end.

A local bare git repository is the remote, a real sandbox server on loopback is AlipayHK, and
each "runner" is a fresh clone (with the signing keys copied in, as a secret would be). What is
checked is what a merchant relies on: the intent is pushed before anything is sent, the push is
a compare-and-swap, and a runner that dies leaves entries `unknown`, never fresh `create`s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, run_cli
from reconcile_support import Rehearsal, rehearsal

EXAMPLE_KEYS = 10


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@dataclass
class Repo:
    rig: Rehearsal
    remote: Path
    base: Path

    def clone(self, name: str) -> Path:
        """A fresh runner: a clone of main with the keys (a secret) copied in."""
        where = self.base / name
        git(self.base, "clone", "--quiet", "--branch", "main", str(self.remote), name)
        shutil.copytree(self.rig.root / "keys", where / "keys")
        git(where, "config", "user.email", f"{name}@example.com")
        git(where, "config", "user.name", name)
        return where

    def remote_state(self) -> dict[str, object]:
        text = git(self.remote, "show", "main:state/rehearsal.json")
        data = json.loads(text)
        assert isinstance(data, dict)
        return data


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    with rehearsal(tmp_path) as rig:
        root = rig.root
        (root / ".gitignore").write_text(".ipass/\nkeys/\n", encoding="utf-8")
        git(root, "init", "--quiet", "-b", "main")
        git(root, "config", "user.email", "merchant@example.com")
        git(root, "config", "user.name", "merchant")
        git(root, "add", ".")
        git(root, "commit", "--quiet", "-m", "catalog")
        remote = tmp_path / "remote.git"
        git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
        git(root, "remote", "add", "origin", str(remote))
        git(root, "push", "--quiet", "origin", "main")
        yield Repo(rig, remote, tmp_path)


def ipass(capsys: pytest.CaptureFixture[str], where: Path, *args: str) -> tuple[int, str, str]:
    run = run_cli(capsys, "-C", str(where), *args)
    return run.code, run.out, run.err


def test_pull_request_plan_then_merge_then_apply_then_a_clean_plan(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The pull request: a branch adds nothing new to the example, so plan everything once.
    pr = repo.clone("pr-runner")
    git(pr, "switch", "--quiet", "-c", "feature")
    code, markdown, _ = ipass(
        capsys, pr, "plan", "--format", "markdown", "--out", str(pr / "plan.json")
    )
    assert code == 0
    assert markdown.startswith("### ipass plan\n\n**Plan for rehearsal: 10 to create.**")
    assert json.loads((pr / "plan.json").read_text(encoding="utf-8"))["has_changes"] is True
    assert repo.rig.templates() == []  # planning never calls AlipayHK, with no credentials
    # The merge: the apply runner checks out main and applies, pushing intent and outcome.
    runner = repo.clone("apply-runner")
    code, out, err = ipass(
        capsys, runner, "apply", "--auto-approve", "--git-push", "--reason", "merge of #1"
    )
    assert code == 0, err
    assert f"done: {EXAMPLE_KEYS} created" in out
    log = git(repo.remote, "log", "--format=%s", "main")
    assert log.splitlines()[:2] == [
        "ipass: 10 created, 0 retired in rehearsal",
        "ipass: intent to create 10 templates in rehearsal",
    ]
    state = repo.remote_state()
    entries = state["entries"]
    assert isinstance(entries, dict)
    assert {e["current"]["status"] for e in entries.values()} == {"created"}
    assert len(set(repo.rig.templates())) == EXAMPLE_KEYS
    # The next plan, on a fresh clone, is clean.
    fresh = repo.clone("next-runner")
    assert ipass(capsys, fresh, "plan", "--detailed-exitcode")[0] == 0


def test_two_merges_racing_create_each_template_once(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = repo.clone("runner-1"), repo.clone("runner-2")  # both at the same commit
    code, _, err = ipass(capsys, first, "apply", "--auto-approve", "--git-push")
    assert code == 0, err
    code, _, err = ipass(capsys, second, "apply", "--auto-approve", "--git-push")
    assert code == 3, err  # its intent push lost the race: nothing was sent
    assert "state/rehearsal.json changed on origin/main since this run read it" in err
    assert len(repo.rig.templates()) == EXAMPLE_KEYS
    assert len(set(repo.rig.templates())) == EXAMPLE_KEYS
    # The loser's runner kept nothing pending: its local state says nothing was sent.
    local = json.loads((second / "state/rehearsal.json").read_text(encoding="utf-8"))
    assert all("current" not in e for e in local["entries"].values())
    # Re-run on a fresh checkout converges: nothing left to do.
    again = repo.clone("runner-3")
    code, out, err = ipass(capsys, again, "apply", "--auto-approve", "--git-push")
    assert (code, err) == (0, "")
    assert "no changes" in out


def test_a_catalog_merge_during_apply_is_rebased_not_a_conflict(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = repo.clone("runner")
    other = repo.clone("author")
    (other / "NOTES.md").write_text("unrelated\n", encoding="utf-8")
    git(other, "add", "NOTES.md")
    git(other, "commit", "--quiet", "-m", "notes")
    git(other, "push", "--quiet", "origin", "main")
    code, _, err = ipass(capsys, runner, "apply", "--auto-approve", "--git-push")
    assert code == 0, err
    assert "notes" in git(repo.remote, "log", "--format=%s", "main").splitlines()
    assert len(repo.rig.templates()) == EXAMPLE_KEYS


_KILLED_CHILD = r"""
import json, os, signal, sys
spec = json.loads(sys.argv[1])
from reconciler.usecases import push
from reconciler.adapters.alipayhk import outcomes

if spec["point"] == "after_intent":
    real = push.GitPublisher.intent
    def intent(self, environment, keys):
        real(self, environment, keys)
        os.kill(os.getpid(), signal.SIGKILL)
    push.GitPublisher.intent = intent
else:
    real_send = outcomes.create_template_outcome
    sent = [0]
    def send(client, body, *, request_id):
        sent[0] += 1
        if sent[0] > spec["nth"]:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_send(client, body, request_id=request_id)
    outcomes.create_template_outcome = send

from reconciler.cli.main import main
sys.exit(main(spec["argv"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("point", "nth", "created"), [("after_intent", 0, 0), ("mid_batch", 3, 3)])
def test_a_runner_killed_after_the_intent_push_leaves_unknown_never_create(
    repo: Repo, capsys: pytest.CaptureFixture[str], point: str, nth: int, created: int
) -> None:
    runner = repo.clone("doomed")
    argv = ["-C", str(runner), "apply", "--auto-approve", "--git-push"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    spec = json.dumps({"point": point, "nth": nth, "argv": argv})
    died = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, spec],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert len(repo.rig.templates()) == created
    # The runner is gone with its disk; a fresh one sees the pushed intent.
    fresh = repo.clone("after")
    code, out, _ = ipass(capsys, fresh, "plan")
    assert code == 5
    assert out.splitlines()[0] == f"Plan for rehearsal: {EXAMPLE_KEYS} with an unknown outcome."
    refused, _, _ = ipass(capsys, fresh, "apply", "--auto-approve", "--git-push")
    assert refused == 5
    assert len(repo.rig.templates()) == created  # nothing created twice, nothing lost
    # Re-sending with the same requestIds converges to exactly one template per entry.
    code, _, err = ipass(
        capsys, fresh, "apply", "--auto-approve", "--retry-unknown", "--git-push",
        "--reason", "runner died; the sandbox deduplicates requestId",
    )  # fmt: skip
    assert code == 0, err
    assert len(repo.rig.templates()) == EXAMPLE_KEYS
    assert len(set(repo.rig.templates())) == EXAMPLE_KEYS


def test_an_emergency_publish_carries_its_reason_into_history(
    repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = repo.clone("on-call")
    code, _, err = ipass(
        capsys, runner, "apply", "--auto-approve", "--target", "cinema",
        "--reason", "INC-42: cinema launch moved up", "--git-push",
    )  # fmt: skip
    assert code == 0, err
    assert repo.rig.templates() != []
    fresh = repo.clone("reviewer")
    code, out, _ = ipass(capsys, fresh, "state", "history", "cinema")
    assert code == 0
    newest = out.splitlines()[0]
    assert "created" in newest
    assert "by on-call@example.com" in newest
    assert "reason: INC-42: cinema launch moved up" in newest


def test_state_push_by_hand_after_a_resolve(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.adapters.sandbox.faults import FaultKind, FaultRule

    runner = repo.clone("runner")
    repo.rig.server.set_faults([FaultRule(kind=FaultKind.UNKNOWN_EXCEPTION, count=1)])
    code, _, _ = ipass(capsys, runner, "apply", "--auto-approve", "--git-push")
    assert code == 5
    laptop = repo.clone("laptop")
    code, out, _ = ipass(capsys, laptop, "plan")
    assert code == 5
    code, _, err = ipass(
        capsys, laptop, "state", "resolve", "bus-shenzhen-bay", "--not-created",
        "--reason", "INC-7: not in the console",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = ipass(capsys, laptop, "state", "push")
    assert code == 0, err
    assert out == "committed and pushed rehearsal.json to origin/main\n"
    assert ipass(capsys, repo.clone("next"), "plan")[0] == 0


def test_state_push_refuses_the_embedded_sandbox_and_a_folder_outside_git(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = ipass(capsys, REPO, "state", "push")
    assert code == 1
    assert "is the embedded sandbox" in err
