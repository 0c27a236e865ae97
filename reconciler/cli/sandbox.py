"""`ipass sandbox`: run the local AlipayHK emulator and look inside it (dispatch only)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from reconciler.cli.context import options
from reconciler.errors import ExitCode

if TYPE_CHECKING:
    from reconciler.usecases.sandbox import Serving

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The sandbox's data folder (default: .ipass/sandbox in the project).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _data_dir(data_dir: Path | None) -> Path:
    from reconciler.usecases.sandbox import default_data_dir

    return data_dir if data_dir is not None else default_data_dir(options().project_dir)


@click.group(name="sandbox")
def sandbox() -> None:
    """The local AlipayHK iPass emulator: real HTTP, real signatures, the vendor's rules.

    `ipass plan` / `ipass apply` start one in-process by default; `ipass sandbox serve`
    runs one on its own. Both keep their data (templates, passes, clients, users, the
    request log) in SQLite under the data folder.
    """


@sandbox.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, help="Port (0: any free port).")
@click.option(
    "--allow-remote", is_flag=True, help="Allow a non-loopback --host (other machines can call)."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND[:K=V,...]",
    help="Inject a fault, e.g. unknown_exception:rate=0.2,path=createPass,count=5. Kinds: "
    "latency, unknown_exception, http_500, rate_limit, drop_after_commit, "
    "slow_after_commit, bad_signature. Keys: rate, path, count, seconds, after_commit, "
    "http_status. Repeatable.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault draws.")
@click.option(
    "--time-window",
    default=300.0,
    show_default=True,
    help="Seconds a Request-Time may differ from the sandbox clock.",
)
def serve(
    *,
    data_dir: Path | None,
    host: str,
    port: int,
    allow_remote: bool,
    faults: tuple[str, ...],
    seed: int,
    time_window: float,
) -> int:
    """Serve createTemplate and createPass until Ctrl-C or SIGTERM.

    Prints the base URL and the platform public key (clients verify responses with it).
    While it runs, POST a JSON fault plan to <url>/__sandbox/faults from this machine
    ({"seed": 1, "faults": [{"kind": "unknown_exception", "rate": 0.5}]}), GET it, or
    DELETE it to clear the faults.
    """
    from reconciler.usecases.sandbox import ServeOptions
    from reconciler.usecases.sandbox import serve as serve_sandbox

    chosen = ServeOptions(
        data_dir=_data_dir(data_dir),
        host=host,
        port=port,
        allow_remote=allow_remote,
        faults=faults,
        seed=seed,
        time_window_s=time_window,
    )
    stopped_by = serve_sandbox(chosen, on_ready=_print_ready)
    click.echo(f"sandbox stopped ({stopped_by})", err=True)
    return int(ExitCode.OK)


def _print_ready(serving: Serving) -> None:
    click.echo(f"sandbox listening on {serving.base_url}")
    click.echo(f"data: {serving.data_dir}")
    click.echo(f"platform public key ({serving.platform_public_key_path}):")
    click.echo(serving.platform_public_key_pem.rstrip("\n"))
    rules = serving.faults.faults
    click.echo(f"faults (seed {serving.faults.seed}): {len(rules) or 'none'}")
    for rule in rules:
        click.echo(f"  {rule.model_dump_json(exclude_defaults=True)}")
    click.echo("press Ctrl-C to stop", err=True)


@sandbox.command()
@data_option
@json_option
def templates(data_dir: Path | None, as_json: bool) -> int:
    """List the templates the sandbox holds, oldest first."""
    from reconciler.usecases.sandbox import list_templates

    rows = list_templates(_data_dir(data_dir))
    _print_rows(rows, as_json, _TEMPLATE_COLUMNS)
    return int(ExitCode.OK)


@sandbox.command()
@data_option
@json_option
def passes(data_dir: Path | None, as_json: bool) -> int:
    """List the passes the sandbox has issued, oldest first."""
    from reconciler.usecases.sandbox import list_passes

    rows = list_passes(_data_dir(data_dir))
    _print_rows(rows, as_json, _PASS_COLUMNS)
    return int(ExitCode.OK)


@sandbox.command()
@data_option
@json_option
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the newest N.")
def requests(data_dir: Path | None, as_json: bool, last: int | None) -> int:
    """List the request log: each request, its result code and any injected fault."""
    from reconciler.usecases.sandbox import list_requests

    rows = list_requests(_data_dir(data_dir), last=last)
    _print_rows(rows, as_json, _REQUEST_COLUMNS)
    return int(ExitCode.OK)


@sandbox.command()
@data_option
@json_option
def clients(data_dir: Path | None, as_json: bool) -> int:
    """List the registered clients and their key versions."""
    from reconciler.usecases.sandbox import list_clients

    rows = list_clients(_data_dir(data_dir))
    _print_rows(rows, as_json, _CLIENT_COLUMNS)
    return int(ExitCode.OK)


@sandbox.command(name="register-client")
@data_option
@click.option("--client-id", required=True, help="The Client-Id requests will carry.")
@click.option(
    "--public-key",
    "public_key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The client's RSA public key (PEM or one-line base64 DER).",
)
@click.option("--key-version", default=1, show_default=True, help="The keyVersion it signs with.")
@click.option(
    "--merchant-id", default=None, help="Only accept bodies for this merchantId (any if absent)."
)
def register_client(
    *,
    data_dir: Path | None,
    client_id: str,
    public_key_file: Path,
    key_version: int,
    merchant_id: str | None,
) -> int:
    """Register a client's public key (or another key version of it)."""
    from reconciler.usecases.sandbox import register_client as register

    record = register(
        _data_dir(data_dir),
        client_id=client_id,
        public_key_file=public_key_file,
        key_version=key_version,
        merchant_id=merchant_id,
    )
    versions = ", ".join(str(v) for v in record.key_versions)
    merchant = record.merchant_id or "any"
    click.echo(f"registered {record.client_id}: key versions {versions}; merchant {merchant}")
    return int(ExitCode.OK)


@sandbox.command(name="add-user")
@data_option
@click.option("--user-id", required=True, help="The AlipayHK userId (e.g. 16 digits).")
@click.option("--open-id", default=None, help="An openId that names the same user.")
def add_user(data_dir: Path | None, user_id: str, open_id: str | None) -> int:
    """Add a user that createPass can issue passes to (1,000 are seeded: 2160220000000000...)."""
    from reconciler.usecases.sandbox import add_user as add

    added = add(_data_dir(data_dir), user_id=user_id, open_id=open_id)
    click.echo(f"added user {user_id}" if added else f"user {user_id} already exists")
    return int(ExitCode.OK)


# -- rendering --------------------------------------------------------------------------------

Column = tuple[str, Callable[[Any], object]]

_TEMPLATE_COLUMNS: Final[Sequence[Column]] = (
    ("TEMPLATE CODE", lambda r: r.template_code),
    ("MERCHANT", lambda r: r.merchant_id),
    ("REQUEST ID", lambda r: r.request_id),
    ("TYPE", lambda r: r.type),
    ("PRODUCT", lambda r: r.product),
    ("STATUS", lambda r: r.status),
    ("CREATED", lambda r: r.created_at),
)
_PASS_COLUMNS: Final[Sequence[Column]] = (
    ("PASS ID", lambda r: r.pass_id),
    ("MERCHANT", lambda r: r.merchant_id),
    ("BIZ SERIAL ID", lambda r: r.biz_serial_id),
    ("TEMPLATE CODE", lambda r: r.template_code),
    ("USER", lambda r: r.user_id),
    ("CREATED", lambda r: r.created_at),
)
_REQUEST_COLUMNS: Final[Sequence[Column]] = (
    ("ID", lambda r: r.id),
    ("RECEIVED", lambda r: r.received_at),
    ("METHOD", lambda r: r.method),
    ("PATH", lambda r: r.path.rsplit("/", 1)[-1]),
    ("CLIENT", lambda r: r.client_id or "-"),
    ("KEY", lambda r: r.idempotency_key or "-"),
    ("RESULT", lambda r: r.result_code or "-"),
    ("HTTP", lambda r: r.http_status or "dropped"),
    ("FAULTS", lambda r: r.faults or "-"),
    ("MS", lambda r: f"{r.elapsed_ms:.1f}"),
)
_CLIENT_COLUMNS: Final[Sequence[Column]] = (
    ("CLIENT ID", lambda r: r.client_id),
    ("MERCHANT", lambda r: r.merchant_id or "any"),
    ("KEY VERSIONS", lambda r: ",".join(str(v) for v in r.key_versions)),
    ("CREATED", lambda r: r.created_at),
)


def _print_rows(rows: Sequence[Any], as_json: bool, columns: Sequence[Column]) -> None:
    from reconciler.domain.text import json_text, printable

    if as_json:
        text = json.dumps([_jsonable(row) for row in rows], ensure_ascii=False, indent=2)
        click.echo(json_text(text))
        return
    table = [[name for name, _ in columns]]
    table += [[printable(str(get(row))) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    click.echo(f"{len(rows)} row{'s' if len(rows) != 1 else ''}", err=True)


def _jsonable(row: Any) -> dict[str, object]:
    data: dict[str, object] = dataclasses.asdict(row)
    body = data.get("body")
    if isinstance(body, str):
        data["body"] = json.loads(body)  # stored as received: a JSON object
    return data
