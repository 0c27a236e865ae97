"""`ipass sandbox ...`: the click group in-process, and `serve` as a real process with signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_sandbox_support import (
    CLIENT_ID,
    MERCHANT_KEY,
    SignedClient,
    pass_body,
    public_pem,
    running_sandbox,
    template_body,
)

from reconciler.adapters.alipayhk.keys import KeySource, load_public_key
from reconciler.cli.main import main
from reconciler.cli.sandbox import sandbox
from reconciler.errors import ExitCode

# `python -c` runs of the real entry point: the one error boundary and exit-code table included.
IPASS = [sys.executable, "-c", "import sys; from reconciler.cli.main import main; sys.exit(main())"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "client_public_key.pem"
    path.write_bytes(public_pem(MERCHANT_KEY))
    return path


@pytest.fixture
def populated(tmp_path: Path) -> Path:
    """A data folder holding one template, one pass and three logged requests."""
    data = tmp_path / "data"
    with running_sandbox(data) as (_, client):
        code = client.template_code("REQ-CLI")
        client.create_pass(pass_body(code, "SERIAL-CLI"))
        client.create_pass(pass_body(code, "SERIAL-CLI"))
    return data


def test_register_client_then_list_it(runner: CliRunner, tmp_path: Path, key_file: Path) -> None:
    data = tmp_path / "data"
    args = ["--data", str(data), "--client-id", "C-1", "--public-key", str(key_file)]

    first = runner.invoke(sandbox, ["register-client", *args, "--merchant-id", "2160120000000009"])
    second = runner.invoke(sandbox, ["register-client", *args, "--key-version", "2"])
    listed = runner.invoke(sandbox, ["clients", "--data", str(data), "--json"])

    assert first.exit_code == second.exit_code == listed.exit_code == 0
    assert first.output == "registered C-1: key versions 1; merchant 2160120000000009\n"
    assert second.output == "registered C-1: key versions 1, 2; merchant 2160120000000009\n"
    (client,) = json.loads(listed.output)
    assert (client["client_id"], client["key_versions"]) == ("C-1", [1, 2])


def test_register_client_accepts_every_merchant_id_the_contract_does(
    runner: CliRunner, tmp_path: Path, key_file: Path
) -> None:
    merchant = "M" + "2" * 63  # 64 letters and digits: longer than any sample, still allowed
    args = ["--client-id", "C-1", "--public-key", str(key_file), "--merchant-id", merchant]
    registered = runner.invoke(sandbox, ["register-client", "--data", str(tmp_path), *args])
    assert registered.exit_code == 0, registered.output
    assert registered.output == f"registered C-1: key versions 1; merchant {merchant}\n"


BAD_IDENTIFIERS = [
    (
        "--client-id",
        "C 1",
        "client id 'C 1' must be 1 to 64 printable ASCII characters, without spaces",
    ),
    ("--client-id", "C" * 65, "client id 'CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC...' must be"),
    ("--merchant-id", "2160-0001", "merchant id '2160-0001' may hold only letters and digits"),
    ("--merchant-id", "2" * 65, "merchant id '2222222222222222222222222222222222222222...' is"),
]


@pytest.mark.parametrize("case", BAD_IDENTIFIERS)
def test_register_client_checks_the_identifiers(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str]
) -> None:
    option, value, error = case
    options = {"--client-id": "C-1", "--public-key": str(key_file), option: value}
    args = [part for pair in options.items() for part in pair]
    code = main(["sandbox", "register-client", "--data", str(tmp_path / "d"), *args])
    assert code == ExitCode.INVALID_INPUT
    assert capsys.readouterr().err.startswith(f"error: {error}")
    assert not (tmp_path / "d").exists()


def test_register_client_refuses_a_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "oops.pem"
    private.write_text(os.linesep.join(["-----BEGIN PRIVATE KEY-----", "AAAA", ""]))
    code = main(
        [
            "sandbox",
            "register-client",
            "--data",
            str(tmp_path / "d"),
            "--client-id",
            "C-1",
            "--public-key",
            str(private),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.CREDENTIALS
    assert err.startswith(f"error: client public key from file {private}: holds a private key")


def test_add_user(runner: CliRunner, tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    added = runner.invoke(sandbox, ["add-user", *data, "--user-id", "2160229000000001"])
    again = runner.invoke(sandbox, ["add-user", *data, "--user-id", "2160229000000001"])
    seeded = runner.invoke(sandbox, ["add-user", *data, "--user-id", "2160220000000000"])
    assert added.output == "added user 2160229000000001\n"
    assert again.output == "user 2160229000000001 already exists\n"
    assert seeded.output == "user 2160220000000000 already exists\n"


def test_add_user_checks_the_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "add-user", "--data", str(tmp_path), "--user-id", "no spaces"])
    assert code == ExitCode.INVALID_INPUT
    assert capsys.readouterr().err == (
        "error: user id 'no spaces' must be 1 to 32 letters or digits\n"
    )


def test_templates_as_a_table_and_as_json(runner: CliRunner, populated: Path) -> None:
    table = runner.invoke(sandbox, ["templates", "--data", str(populated)])
    as_json = runner.invoke(sandbox, ["templates", "--data", str(populated), "--json"])

    header, row, count = table.output.splitlines()
    assert header.split() == [
        "TEMPLATE",
        "CODE",
        "MERCHANT",
        "REQUEST",
        "ID",
        "TYPE",
        "PRODUCT",
        "STATUS",
        "CREATED",
    ]
    assert row.split()[2:6] == ["REQ-CLI", "COUPON", "GIFT_CARD", "valid"]
    assert count == "1 row"
    (template,) = json.loads(as_json.output)
    assert template["request_id"] == "REQ-CLI"
    assert template["body"]["requestId"] == "REQ-CLI"  # the stored body, as JSON
    assert re.fullmatch(r"\d{32}", template["template_code"])


def test_passes_and_requests(runner: CliRunner, populated: Path) -> None:
    passes = json.loads(
        runner.invoke(sandbox, ["passes", "--data", str(populated), "--json"]).output
    )
    log = runner.invoke(sandbox, ["requests", "--data", str(populated), "--json"])
    last = runner.invoke(sandbox, ["requests", "--data", str(populated), "--last", "1"])

    assert [p["biz_serial_id"] for p in passes] == ["SERIAL-CLI"]
    assert [r["result_code"] for r in json.loads(log.output)] == [
        "SUCCESS",
        "SUCCESS",
        "PASS_HAS_EXIST",
    ]
    header, row, _ = last.output.splitlines()
    assert header.split()[:4] == ["ID", "RECEIVED", "METHOD", "PATH"]
    assert row.split()[2:7] == ["POST", "createPass", CLIENT_ID, "SERIAL-CLI", "PASS_HAS_EXIST"]


def test_listing_a_folder_without_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "templates", "--data", str(tmp_path / "none")])
    err = capsys.readouterr().err.splitlines()
    assert code == ExitCode.INVALID_INPUT
    assert err == [
        f"error: no sandbox data in {tmp_path / 'none'}",
        "hint: start one with `ipass sandbox serve`, or point --data at its folder",
    ]
    assert not (tmp_path / "none").exists()


def test_the_default_data_folder_is_in_the_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["-C", str(tmp_path), "sandbox", "add-user", "--user-id", "2160229000000002"])
    assert code == ExitCode.OK
    assert (tmp_path / ".ipass" / "sandbox" / "sandbox.sqlite3").is_file()
    assert main(["-C", str(tmp_path), "sandbox", "templates", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == []


# -- `serve` as a real process --------------------------------------------------------------


class Served:
    """A running `ipass sandbox serve` and what it printed on start."""

    def __init__(self, process: subprocess.Popen[str], lines: list[str]) -> None:
        self.process = process
        self.lines = lines
        found = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        assert found, lines
        self.url = found.group(0)

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=20)
        return self.process.returncode, err


@pytest.fixture
def serve(tmp_path: Path, key_file: Path) -> Iterator[Served]:
    data = tmp_path / "served"
    registered = subprocess.run(
        [
            *IPASS,
            "sandbox",
            "register-client",
            "--data",
            str(data),
            "--client-id",
            CLIENT_ID,
            "--public-key",
            str(key_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert registered.returncode == 0, registered.stderr
    process = subprocess.Popen(
        [
            *IPASS,
            "sandbox",
            "serve",
            "--data",
            str(data),
            "--seed",
            "5",
            "--fault",
            "unknown_exception:count=1,path=createTemplate",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("  {"):
        line = process.stdout.readline()
        assert line, f"serve ended early: {process.communicate(timeout=20)}"
        lines.append(line.rstrip("\n"))
    served = Served(process, lines)
    yield served
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=20)


def test_serve_prints_its_url_and_platform_key_and_stops_on_sigterm(
    serve: Served, tmp_path: Path, runner: CliRunner
) -> None:
    data = tmp_path / "served"
    pem = (data / "platform_public_key.pem").read_text().splitlines()
    start = serve.lines.index(pem[0])
    assert serve.lines[start : start + len(pem)] == pem
    assert serve.lines[1] == f"data: {data.resolve()}"
    assert serve.lines[-2:] == [
        "faults (seed 5): 1",
        '  {"kind":"unknown_exception","path":"/api/open/alipay/v1/ipass/template/manage/'
        'createTemplate","count":1}',
    ]

    printed_key = load_public_key(KeySource.file(data / "platform_public_key.pem")).key
    client = SignedClient(serve.url, platform_public_key=printed_key)
    body = template_body("REQ-SERVED")
    assert client.create_template(body).code == "UNKNOWN_EXCEPTION"
    answer = client.create_template(body)
    assert answer.verified
    assert answer.code == "SUCCESS"
    # Another process reads while the server runs.
    listed = runner.invoke(sandbox, ["requests", "--data", str(data), "--json"])
    assert [r["faults"] for r in json.loads(listed.output)] == ["unknown_exception", ""]

    code, err = serve.stop(signal.SIGTERM)
    assert code == 0
    assert err.splitlines()[-1] == "sandbox stopped (SIGTERM)"
    templates = runner.invoke(sandbox, ["templates", "--data", str(data), "--json"])
    assert [t["request_id"] for t in json.loads(templates.output)] == ["REQ-SERVED"]


def test_serve_stops_on_sigint(serve: Served) -> None:
    code, err = serve.stop(signal.SIGINT)
    assert code == 0
    assert err.splitlines()[-1] == "sandbox stopped (SIGINT)"


def test_serve_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    done = subprocess.run(
        [*IPASS, "sandbox", "serve", "--data", str(tmp_path), "--host", "0.0.0.0"],  # noqa: S104 -- refused, never bound
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == ExitCode.INVALID_INPUT
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: refusing to listen on 0.0.0.0: the sandbox accepts any registered key and "
        "answers on behalf of AlipayHK, so it listens on loopback only",
        "hint: use --host 127.0.0.1 (the default), or --allow-remote if you really mean it",
    ]


def test_serve_explains_a_bad_fault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "serve", "--data", str(tmp_path), "--fault", "meltdown"])
    err = capsys.readouterr().err.splitlines()
    assert code == ExitCode.INVALID_INPUT
    assert err[0].startswith("error: fault 'meltdown': kind: ")  # then pydantic's sentence
    assert err[1].startswith("hint: write KIND[:key=value,...]")


def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "first") as (server, _):
        done = subprocess.run(
            [
                *IPASS,
                "sandbox",
                "serve",
                "--data",
                str(tmp_path / "second"),
                "--port",
                str(server.port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == ExitCode.INVALID_INPUT
    assert f"error: cannot listen on 127.0.0.1:{server.port}" in done.stderr


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(sandbox, ["--help"])
    for command in ("serve", "templates", "passes", "requests", "register-client", "add-user"):
        assert command in result.output
