"""What each command imports, pinned: a new heavy import fails here, not in a slower benchmark.

Every command runs in a fresh interpreter, the way `ipass` runs, against a copy of the example
catalog; the child reports the modules the command added to `sys.modules`. Those are reduced to
the *units* this file watches, and each command's units must lie within its allow-list:

* third-party packages (top-level names), all of them, so a new dependency is a decision;
* a few modules that are slow to import or belong to a stack a command should not touch
  (`_WATCHED_MODULES`: pydantic's schema builder, `importlib.metadata`, HTTP and TLS, ...);
* the packages of `reconciler` (`reconciler.domain.templating`, `reconciler.adapters.sandbox`,
  ...) and the modules that define the commands (`reconciler.cli.catalog`, ...).

Plain modules of `reconciler` are not watched one by one, so splitting or renaming one breaks
nothing here; a package or dependency a command did not need before does. Sets are compared,
never times. When a test fails, import the named module lazily where it is used, or, if the
command really needs it, add it to the command's allow-list below and say why in the commit.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import click
import pydantic
import pytest
from helpers import REPO, copy_example

from reconciler.cli.main import _COMMANDS, _SUMMARIES, cli, no_pydantic_plugins, summary

pytestmark = pytest.mark.slow

# Run in the child: note what the interpreter loaded before ipass (site, .pth hooks, coverage),
# run the command as `ipass` does, then write what it added.
_PROBE: Final = """
import sys
before = set(sys.modules)
{extra}
from reconciler.cli.main import main
code = main(sys.argv[2:])
added = {{name: sys.modules[name] for name in set(sys.modules) - before}}
import json, sysconfig
installed = tuple({{sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}})
where = {{name: getattr(module, "__file__", None) or "" for name, module in added.items()}}
report = {{
    name: [hasattr(module, "__path__"), where[name].startswith(installed)]
    for name, module in added.items()
}}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({{"code": code, "modules": report}}, out)
"""

# Slow to import, or a stack a command that needs no network or worker processes should not load.
_WATCHED_MODULES: Final = frozenset(
    {
        "pydantic.main",  # pydantic's model machinery
        "pydantic._internal._generate_schema",  # building a model's or adapter's validator
        "importlib.metadata",  # package metadata (email, zipfile, csv): about 10 ms
        "logging",  # loaded with the first subcommand (cli/warning_output.py), not for --help
        "traceback",  # loaded by logging, or for a bug report
        "http.client",
        "ssl",
        "socketserver",
        "asyncio",
        "concurrent.futures.process",
        "multiprocessing",
        "sqlite3",
        # Modules of ours that cost more than their name suggests: the plan's step types (sixteen
        # dataclasses) and the state's events (thirteen pydantic models built at import).
        "reconciler.domain.plan",
        "reconciler.domain.events",
    }
)
# Each module the command added: (is a package, lives in site-packages).
Modules = dict[str, tuple[bool, bool]]
_COMMAND_MODULES: Final = frozenset(module for module, _ in _COMMANDS.values())

_PYDANTIC: Final = frozenset(
    {
        "pydantic",
        "pydantic_core",
        "typing_extensions",
        "annotated_types",
        "typing_inspection",
        "pydantic.main",
        "pydantic._internal._generate_schema",
    }
)
_JINJA: Final = frozenset({"jinja2", "markupsafe", "reconciler.domain.templating"})
_YAML: Final = frozenset({"yaml", "reconciler.domain.yamlsafe"})
# Reading the state (validate reads it too: an entry already published may start in the past).
_STATE: Final = frozenset({"reconciler.adapters", "reconciler.domain.events", "orjson"})
_CATALOG: Final = (
    _PYDANTIC
    | _JINJA
    | _YAML
    | _STATE
    | {"reconciler.usecases", "reconciler.domain.contract", "reconciler.cli.catalog"}
)
_HELP: Final = frozenset({"click", "reconciler", "reconciler.cli", "reconciler.domain"})
_COMMAND: Final = _HELP | {"logging", "traceback"}  # any subcommand: what it logs is shown

ALLOWED: Final[dict[tuple[str, ...], frozenset[str]]] = {
    ("--help",): _HELP,
    ("--version",): _HELP,
    ("validate",): _COMMAND | _CATALOG,
    # render derives each body's requestId as apply would (usecases/plan.py, with the plan types).
    ("render",): _COMMAND | _CATALOG | {"reconciler.domain.plan"},
    ("plan",): _COMMAND
    | _CATALOG
    | {"reconciler.cli.reconcile", "reconciler.domain.plan", "reconciler.domain.plan_render"},
    ("state", "list"): _COMMAND | _CATALOG | {"reconciler.cli.state", "reconciler.domain.plan"},
    # The command's options only: no pydantic, no catalog, no state.
    ("apply", "--help"): _COMMAND
    | {"reconciler.cli.reconcile", "reconciler.cli.catalog", "reconciler.domain.plan"},
}


def watched_units(modules: Modules) -> set[str]:
    """The units of `modules` this file pins; see the module docstring."""
    units = set()
    for name, (is_package, installed) in modules.items():
        top = name.partition(".")[0]
        if name in _WATCHED_MODULES:
            units.add(name)
        elif top == "reconciler":
            # A command module itself, else the package (folder) the module belongs to.
            packaged = name in _COMMAND_MODULES or is_package
            units.add(name if packaged else name.rpartition(".")[0])
        elif installed:  # a third-party package, from site-packages
            units.add(top)
    return units


def imported_by(
    args: tuple[str, ...], project: Path, extra: str = "", plugins: str | None = None
) -> Modules:
    """The modules `ipass <args>` adds to a fresh interpreter, run in `project`; `extra` is
    code run first, as if the command had run it; `plugins` sets PYDANTIC_DISABLE_PLUGINS."""
    report = project / "modules.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith("IPASS_")}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    if plugins is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = plugins
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(extra=extra), str(report), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["code"] == 0, f"ipass {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return {name: (package, installed) for name, (package, installed) in result["modules"].items()}


def unexpected(args: tuple[str, ...], modules: Modules) -> list[str]:
    """One line per watched unit that `ipass <args>` imported and its allow-list lacks."""
    command = " ".join(("ipass", *args))
    return [
        f"{command} imports {unit}, which its allow-list in {Path(__file__).name} lacks: "
        f"import it lazily where it is used, or allow it if {command} needs it"
        for unit in sorted(watched_units(modules) - ALLOWED[args])
    ]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("startup"))
    (root / "ipass.toml").write_bytes((REPO / "ipass.toml").read_bytes())
    return root


@pytest.mark.parametrize("args", list(ALLOWED), ids=" ".join)
def test_command_imports_only_what_its_allow_list_holds(
    args: tuple[str, ...], project: Path
) -> None:
    modules = imported_by(args, project)
    assert "reconciler.cli.main" in modules  # the probe saw the command run
    assert unexpected(args, modules) == []


def test_help_loads_no_command_module(project: Path) -> None:
    """`ipass --help` lists every command from the summary table, importing none of them."""
    assert not _COMMAND_MODULES & set(imported_by(("--help",), project))


def test_a_heavy_import_is_named_with_the_command(project: Path) -> None:
    """The check can fail: what `--help` must not load is named, with the command."""
    modules = imported_by(("--help",), project, extra="import pydantic.main, requests")
    found = unexpected(("--help",), modules)
    named = {line.split(",")[0].removeprefix("ipass --help imports ") for line in found}
    assert {"pydantic", "pydantic.main", "requests", "urllib3"} <= named, found
    assert all("allow-list in test_startup_imports.py" in line for line in found)


@pytest.mark.parametrize("limit", [20, 45, 60, 74, 1000])
def test_summaries_are_each_commands_own_short_help(limit: int) -> None:
    """The `--help` listing says of each command what its own help would say, at any width."""
    assert set(_SUMMARIES) == set(_COMMANDS)
    with click.Context(cli) as ctx:
        for name in _COMMANDS:
            command = cli.get_command(ctx, name)
            assert command is not None
            assert summary(name, limit) == command.get_short_help_str(limit), name


# -- pydantic's plugin loader ----------------------------------------------------------------------


def test_pydantic_imports_only_get_plugins_from_its_plugin_loader() -> None:
    """ipass stands in for `pydantic.plugin._loader` (cli/main.py): that is safe only while
    pydantic asks it for `get_plugins` alone. A pydantic that asks for more fails here."""
    root = Path(pydantic.__file__).parent
    asked: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "_loader":
                asked.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute) and node.attr == "_loader":
                asked.add(f"<attribute access in {path.relative_to(root)}>")
    assert asked == {"get_plugins"}


def test_the_stand_in_answers_as_pydantics_loader_does_with_plugins_off() -> None:
    code = (
        "import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'\n"
        "from pydantic.plugin._loader import get_plugins; print(list(get_plugins()))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == f"{list(no_pydantic_plugins())}\n" == "[]\n"


def test_a_pydantic_asking_the_stand_in_for_more_gets_its_own_loader() -> None:
    """Should a later pydantic import another name from its loader, the stand-in steps aside
    and pydantic's own module answers: an upgrade never breaks ipass at its first model."""
    code = (
        "import os, sys; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'\n"
        "from reconciler.cli.main import _without_pydantic_plugin_loader\n"
        "_without_pydantic_plugin_loader()\n"
        "stand_in = sys.modules['pydantic.plugin._loader']\n"
        "from pydantic.plugin._loader import _plugins\n"
        "loader = sys.modules['pydantic.plugin._loader']\n"
        "print(loader is not stand_in, loader.__file__.endswith('_loader.py'), _plugins)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "True True None\n"


@pytest.mark.parametrize(("plugins", "stand_in"), [(None, True), ("__all__", True), ("a", False)])
def test_pydantics_own_loader_runs_when_the_user_turns_plugins_on(
    project: Path, plugins: str | None, *, stand_in: bool
) -> None:
    """Unset, ipass turns plugins off and stands in for the loader; set to some plugin's name
    (those off, the others on), pydantic's loader runs and looks for them."""
    modules = imported_by(("validate",), project, plugins=plugins)
    assert ("importlib.metadata" not in modules) is stand_in
