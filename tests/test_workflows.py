"""The pipeline's GitHub workflows keep the bar of RELIABILITY.md ("Pipeline"), and the scaffold
ships the very files this repository runs.

Each rule is a function returning the problems it finds, so the last tests can show that every
rule fires on a workflow that breaks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, run_cli

from reconciler.domain.schemas import SCHEMAS
from reconciler.usecases.init import scaffold_files

WORKFLOWS = REPO / ".github" / "workflows"
SCAFFOLD_WORKFLOWS = REPO / "reconciler" / "scaffold" / "files" / ".github" / "workflows"
PIPELINE = (
    "ipass-plan.yml",
    "ipass-plan-comment-fork.yml",
    "ipass-apply.yml",
    "ipass-emergency.yml",
)
APPLYING = ("ipass-apply.yml", "ipass-emergency.yml")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: \S+ # v\d+(\.\d+)*$")
INSTALL = (
    "python -m pip install --disable-pip-version-check --quiet -r .github/ipass-requirements.txt"
)

Workflow = dict[Any, Any]  # `on:` is read as the key True


def load(path: Path) -> Workflow:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def triggers(workflow: Workflow) -> dict[str, Any]:
    """`on:` (PyYAML reads the bare key `on` as the boolean True, YAML 1.1)."""
    found = workflow.get("on", workflow.get(True))
    if isinstance(found, str):
        return {found: None}
    if isinstance(found, list):
        return dict.fromkeys(found)
    assert isinstance(found, dict)
    return found


def jobs(workflow: Workflow) -> dict[str, dict[str, Any]]:
    found = workflow["jobs"]
    assert isinstance(found, dict)
    return found


def steps(workflow: Workflow) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in jobs(workflow).items():
        for step in job.get("steps", []):
            yield name, step


def strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def all_workflows() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *SCAFFOLD_WORKFLOWS.glob("*.yml")])


# -- the rules -----------------------------------------------------------------------------------


def trigger_problems(workflow: Workflow) -> list[str]:
    return [f"trigger {name}" for name in triggers(workflow) if name == "pull_request_target"]


def pinning_problems(workflow: Workflow) -> list[str]:
    return [
        f"{job}: {step['uses']} is not pinned by a full commit SHA"
        for job, step in steps(workflow)
        if "uses" in step and not PINNED.match(step["uses"])
    ]


def expression_in_run_problems(workflow: Workflow) -> list[str]:
    return [
        f"{job}: step {step.get('name', '?')!r} has ${{{{ in run:"
        for job, step in steps(workflow)
        if "${{" in str(step.get("run", ""))
    ]


def secrets_problems(workflow: Workflow, file_name: str) -> list[str]:
    """`secrets.` only inside jobs of the apply workflows that run in `production`."""
    problems = [
        f"{key}: secrets outside a job"
        for key, value in workflow.items()
        if key != "jobs" and any("secrets." in text for text in strings(value))
    ]
    for name, job in jobs(workflow).items():
        if not any("secrets." in text for text in strings(job)):
            continue
        if file_name not in APPLYING or job.get("environment") != "production":
            problems.append(f"{name}: uses secrets outside the production apply jobs")
    return problems


def permission_problems(workflow: Workflow) -> list[str]:
    problems = [] if workflow.get("permissions") == {} else ["top-level permissions are not {}"]
    problems += [
        f"{name}: no job-level permissions"
        for name, job in jobs(workflow).items()
        if not isinstance(job.get("permissions"), dict)
    ]
    return problems


def apply_problems(workflow: Workflow) -> list[str]:
    problems = []
    for name, job in jobs(workflow).items():
        if job.get("environment") != "production":
            problems.append(f"{name}: not in the production environment")
        if job.get("concurrency") != {
            "group": "ipass-apply-production",
            "cancel-in-progress": False,
        }:
            problems.append(f"{name}: not in the concurrency group that never cancels an apply")
        if job.get("permissions") != {"contents": "write"}:
            problems.append(f"{name}: permissions are not exactly contents: write")
    return problems


def plan_problems(workflow: Workflow) -> list[str]:
    problems = [
        f"{name}: has an environment"
        for name, job in jobs(workflow).items()
        if "environment" in job
    ]
    if any("secrets." in text for text in strings(workflow)):
        problems.append("uses secrets")
    if set(triggers(workflow)) != {"pull_request"}:
        problems.append(f"triggers {sorted(triggers(workflow))}")
    return problems


RULES = (trigger_problems, pinning_problems, expression_in_run_problems, permission_problems)


# -- the files -----------------------------------------------------------------------------------


def test_the_scaffold_ships_this_repositorys_workflows() -> None:
    ours = sorted(path.name for path in WORKFLOWS.glob("ipass-*.yml"))
    assert ours == sorted(PIPELINE)
    assert sorted(path.name for path in SCAFFOLD_WORKFLOWS.iterdir()) == ours
    for name in ours:
        assert (SCAFFOLD_WORKFLOWS / name).read_bytes() == (WORKFLOWS / name).read_bytes(), name


def test_init_writes_those_same_bytes() -> None:
    written = {file.path.as_posix(): file.data for file in scaffold_files()}
    for name in PIPELINE:
        assert written[f".github/workflows/{name}"] == (WORKFLOWS / name).read_bytes()


def test_ipass_is_installed_from_one_requirements_file() -> None:
    """The one line that differs between the two repositories lives outside the workflows."""
    for name in PIPELINE:
        workflow = load(WORKFLOWS / name)
        runs = [str(step.get("run", "")) for _, step in steps(workflow)]
        if name == "ipass-plan-comment-fork.yml":
            assert not any("pip install" in run for run in runs)  # it runs no ipass at all
            continue
        assert [run.strip() for run in runs if "pip install" in run] == [INSTALL], name
    requirements = (REPO / ".github" / "ipass-requirements.txt").read_text(encoding="utf-8")
    assert [line for line in requirements.splitlines() if not line.startswith("#")] == ["-e ."]


@pytest.mark.parametrize("path", all_workflows(), ids=lambda path: str(path.relative_to(REPO)))
def test_every_workflow_keeps_the_bar(path: Path) -> None:
    workflow = load(path)
    problems = [problem for rule in RULES for problem in rule(workflow)]
    problems += secrets_problems(workflow, path.name)
    assert problems == []
    text = path.read_text(encoding="utf-8")
    assert "pull_request_target" not in text
    for line in text.splitlines():
        if line.strip().startswith(("uses:", "- uses:")):
            assert VERSION_COMMENT.search(line), f"no version comment: {line.strip()}"


def test_plan_needs_no_secret_and_comments_from_one_job() -> None:
    workflow = load(WORKFLOWS / "ipass-plan.yml")
    assert plan_problems(workflow) == []
    writers = [
        name
        for name, job in jobs(workflow).items()
        if job["permissions"].get("pull-requests") == "write"
    ]
    assert writers == ["comment"]
    comment = jobs(workflow)["comment"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert not [step for step in comment["steps"] if "checkout" in step.get("uses", "")]
    assert jobs(workflow)["plan"]["permissions"] == {"contents": "read"}
    runs = "\n".join(str(step.get("run", "")) for _, step in steps(workflow))
    assert "ipass validate" in runs
    assert "ipass plan --env production --format markdown --out plan.json > plan.md" in runs
    assert "GITHUB_STEP_SUMMARY" in runs
    assert "1048576" in runs  # the summary's limit
    plan_step = next(step for _, step in steps(workflow) if step.get("id") == "plan")
    assert "|| status=$?" in plan_step["run"]  # the comment is posted even when the plan fails
    last = jobs(workflow)["plan"]["steps"][-1]
    assert "exit 1" in last["run"]


def test_every_checkout_keeps_its_token_out_of_the_workspace_except_to_push_state() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for _, step in steps(load(path)):
            if step.get("uses", "").startswith("actions/checkout@"):
                expected = path.name in APPLYING
                assert step["with"]["persist-credentials"] is expected, path.name


def test_the_fork_comment_reads_only_the_artifact() -> None:
    workflow = load(WORKFLOWS / "ipass-plan-comment-fork.yml")
    assert triggers(workflow) == {
        "workflow_run": {"workflows": ["ipass plan"], "types": ["completed"]}
    }
    (job,) = jobs(workflow).values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    used = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert "actions/checkout" not in used
    assert "actions/download-artifact" in used
    assert "head_repository.full_name != github.repository" in job["if"]
    check = next(step for step in job["steps"] if step.get("id") == "pr")
    assert "^[0-9]{1,10}$" in check["run"]  # digits, before any use
    assert check["run"].index("^[0-9]") < check["run"].index("gh api")
    plan = load(WORKFLOWS / "ipass-plan.yml")
    assert "pr-number.txt" in str(plan)


def test_apply_runs_on_main_in_production_one_at_a_time() -> None:
    for name in APPLYING:
        workflow = load(WORKFLOWS / name)
        assert apply_problems(workflow) == [], name
        runs = "\n".join(str(step.get("run", "")) for _, step in steps(workflow))
        assert "ipass doctor --env production --online" in runs
        assert "ipass state push --env production" in runs
        (job,) = jobs(workflow).values()
        checkout = job["steps"][0]
        assert checkout["with"]["fetch-depth"] == 0
        push = job["steps"][-1]
        assert push["run"] == "ipass state push --env production"
        assert "always()" in push["if"]
        signing = [step for step in job["steps"] if "secrets." in str(step)]
        assert [step["name"] for step in signing] == ["ipass doctor (online)", "ipass apply"]
        for step in signing:
            assert step["env"]["IPASS_PRIVATE_KEY"] == "${{ secrets.IPASS_PRIVATE_KEY }}"
    apply = load(WORKFLOWS / "ipass-apply.yml")
    assert triggers(apply) == {"push": {"branches": ["main"]}}
    runs = "\n".join(str(step.get("run", "")) for _, step in steps(apply))
    assert 'ipass apply "${RUNNER_TEMP}/plan.json" --auto-approve --git-push' in runs
    assert '--reason "merge of ${GITHUB_SHA}"' in runs


def test_emergency_inputs_reach_the_scripts_only_through_the_environment() -> None:
    workflow = load(WORKFLOWS / "ipass-emergency.yml")
    inputs = triggers(workflow)["workflow_dispatch"]["inputs"]
    assert {name: spec["required"] for name, spec in inputs.items()} == {
        "select": True,
        "reason": True,
    }
    (job,) = jobs(workflow).values()
    assert job["if"] == "${{ github.ref == 'refs/heads/main' }}"
    apply = next(step for step in job["steps"] if step.get("id") == "apply")
    assert apply["env"]["SELECT"] == "${{ inputs.select }}"
    assert apply["env"]["REASON"] == "${{ inputs.reason }}"
    assert apply["run"] == (
        'ipass apply --env production --target "$SELECT" --reason "$REASON" --auto-approve '
        "--git-push"
    )


def test_this_repositorys_ci_runs_ci_run() -> None:
    workflow = load(WORKFLOWS / "ci.yml")
    assert set(triggers(workflow)) == {"push", "pull_request"}
    (job,) = jobs(workflow).values()
    assert job["permissions"] == {"contents": "read"}
    assert job["steps"][-1]["run"] == "bash .ci/run"


# -- the rules fire ------------------------------------------------------------------------------

BAD = """
name: bad
on:
  pull_request_target:
permissions: write-all
jobs:
  plan:
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - env:
          KEY: ${{ secrets.IPASS_PRIVATE_KEY }}
        run: ipass apply
    concurrency:
      group: ipass-apply-production
      cancel-in-progress: true
"""


def test_each_rule_fires_on_a_workflow_that_breaks_it() -> None:
    workflow = yaml.safe_load(BAD)
    assert trigger_problems(workflow) == ["trigger pull_request_target"]
    assert pinning_problems(workflow) == [
        "plan: actions/checkout@v4 is not pinned by a full commit SHA"
    ]
    assert len(expression_in_run_problems(workflow)) == 1
    assert permission_problems(workflow) == [
        "top-level permissions are not {}",
        "plan: no job-level permissions",
    ]
    assert secrets_problems(workflow, "ipass-plan.yml") == [
        "plan: uses secrets outside the production apply jobs"
    ]
    assert secrets_problems(workflow, "ipass-apply.yml") == []
    assert apply_problems(workflow) == [
        "plan: not in the concurrency group that never cancels an apply",
        "plan: permissions are not exactly contents: write",
    ]
    assert plan_problems(workflow) == [
        "plan: has an environment",
        "uses secrets",
        "triggers ['pull_request_target']",
    ]


# -- pre-commit ----------------------------------------------------------------------------------


def test_the_published_hooks() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {hook["id"]: hook["entry"] for hook in hooks} == {
        "ipass-validate": "ipass validate",
        "ipass-schemas": "ipass schema export --check",
    }
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    local = {hook["id"]: hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert local == {hook["id"]: hook["entry"] for hook in hooks}


def test_schema_check_names_stale_files_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "schemas"
    missing = run_cli(capsys, "-C", str(tmp_path), "schema", "export", "--check")
    assert missing.code == 1
    assert len(missing.out.splitlines()) == len(SCHEMAS)
    assert not folder.exists()

    assert run_cli(capsys, "-C", str(tmp_path), "schema", "export").code == 0
    current = run_cli(capsys, "-C", str(tmp_path), "schema", "export", "--check")
    assert current.code == 0, current.out
    assert current.out == f"ok: the schemas in {folder} are current\n"

    stale = folder / "plan.schema.json"
    stale.write_bytes(stale.read_bytes() + b" ")
    (folder / "state.schema.json").unlink()
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    run = run_cli(capsys, "-C", str(tmp_path), "schema", "export", "--check")
    assert run.code == 1
    assert run.out.splitlines() == [f"stale: {stale}", f"stale: {folder / 'state.schema.json'}"]
    assert run.err == "hint: run `ipass schema export` and commit the result\n"
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_the_plan_job_builds_the_card_preview_and_the_comment_links_it() -> None:
    workflow = load(WORKFLOWS / "ipass-plan.yml")
    plan_steps = jobs(workflow)["plan"]["steps"]
    names = [step.get("id") for step in plan_steps]
    preview = next(step for step in plan_steps if step.get("id") == "preview")
    assert "ipass preview --env production --out preview || status=$?" in preview["run"]
    assert preview["if"] == "${{ !cancelled() }}"  # built even when the plan fails
    upload = next(step for step in plan_steps if step.get("id") == "preview-artifact")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == "ipass-preview"
    assert upload["with"]["path"] == "preview/"
    summary = next(step for step in plan_steps if "PREVIEW_URL" in step.get("env", {}))
    assert summary["env"]["PREVIEW_URL"] == "${{ steps.preview-artifact.outputs.artifact-url }}"
    assert "preview-note.md" in summary["run"]
    # The link is written before the comment is cut to size and uploaded for the fork workflow.
    assert names.index("preview") < names.index("preview-artifact")
    assert plan_steps.index(summary) < next(
        i for i, step in enumerate(plan_steps) if step.get("with", {}).get("name") == "ipass-plan"
    )
