"""`ipass.toml` through the real command line: every problem at once, located, nothing guessed.

An environment other than the built-in sandbox says where it publishes and as whom; a missing
or misspelt setting is never filled in from the sandbox, and no command does anything before
the whole file is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Run, run_cli
from test_catalog import COUPON, project

from reconciler.domain.config import SANDBOX_MERCHANT_ID

CATALOG = {"catalog/templates/c.yaml": COUPON}
HINT = "hint: fix each line above; `ipass validate` checks everything again"
STAGING_MERCHANT = "2160120041113167"
# A complete environment: keys come from variables, so planning needs none of them set.
FULL = (
    'endpoint = "https://business.dl.alipaydev.com"\n'
    f'merchant_id = "{STAGING_MERCHANT}"\n'
    'client_id = "STAGING-1"\n'
    'private_key_env = "STAGING_KEY"\n'
    'platform_public_key_env = "ALIPAYHK_KEY"\n'
)
ENDPOINT_REQUIRED = (
    'required: the AlipayHK gateway URL (https://...), or "embedded" for the local sandbox; '
    "an environment is never sent to the sandbox by default"
)
NOT_A_NAME = "must be the NAME of an environment variable (letters, digits, _), not a value"
PEM = "-----BEGIN PRIVATE KEY-----MIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA"


def configured(tmp_path: Path, toml: str) -> Path:
    """A one-entry catalog and this ipass.toml (dedented)."""
    return project(tmp_path, {**CATALOG, "ipass.toml": toml})


def refusal(root: Path, *problems: str) -> list[str]:
    """The stderr lines of a refused ipass.toml: each `LINE:1: FIELD: MESSAGE`, count, hint."""
    where = root / "ipass.toml"
    lines = [f"{where}:{problem}" for problem in problems]
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found"
    return ["error: " + lines[0], *lines[1:], count, HINT]


def assert_no_crash(run: Run) -> None:
    both = run.out + run.err
    assert "Traceback" not in both
    assert "internal error" not in both
    assert "bug in ipass" not in both


def test_environment_without_endpoint_does_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(
        tmp_path,
        """\
        default_environment = "staging"

        [environments.staging]
        merchant_id = "2160120041113167"
        client_id = "STAGING-1"
        private_key_env = "STAGING_KEY"
        platform_public_key_env = "ALIPAYHK_KEY"
        """,
    )
    expected = refusal(root, f"3:1: environments.staging.endpoint: {ENDPOINT_REQUIRED}")
    for command in (
        ("validate",),
        ("plan",),
        ("render",),
        ("plan", "--env", "staging"),
        ("apply", "--auto-approve"),
        # The whole file is checked before any command acts, whichever environment it names.
        ("plan", "--env", "sandbox"),
    ):
        run = run_cli(capsys, "-C", str(root), *command)
        assert run.code == 1, command
        assert run.out == "", command
        assert run.err.splitlines() == expected, command
    assert not (root / ".ipass").exists()  # never started, nor fell back to, the sandbox
    assert not (root / "state").exists()


def test_every_missing_setting_is_listed_in_one_run_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(
        tmp_path,
        """\
        default_environment = "sandbox"

        [environments.local]
        endpoint = "embedded"

        [environments.staging]
        endpoint = "https://business.dl.alipaydev.com"
        key_version = 1
        private_key_file = "keys/merchant.pem"
        private_key_env = "STAGING_KEY"

        [environments.prod]
        key_version = 2
        """,
    )
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 1
    assert run.out == ""
    assert run.err.splitlines() == refusal(
        root,
        "6:1: environments.staging.client_id: required: the Client-Id from the AlipayHK console",
        "6:1: environments.staging.merchant_id: required: the merchant id AlipayHK gave you "
        "(partnerId)",
        "6:1: environments.staging.platform_public_key_file: required: AlipayHK's public key, "
        "to verify responses; set platform_public_key_file or platform_public_key_env",
        "10:1: environments.staging.private_key_env: give private_key_file or private_key_env, "
        "not both",
        "12:1: environments.prod.client_id: required: the Client-Id from the AlipayHK console",
        f"12:1: environments.prod.endpoint: {ENDPOINT_REQUIRED}",
        "12:1: environments.prod.merchant_id: required: the merchant id AlipayHK gave you "
        "(partnerId)",
        "12:1: environments.prod.platform_public_key_file: required: AlipayHK's public key, "
        "to verify responses; set platform_public_key_file or platform_public_key_env",
        "12:1: environments.prod.private_key_file: required: the merchant's RSA private key; "
        "set private_key_file or private_key_env",
    )


def test_misspelt_setting_says_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(
        tmp_path,
        """\
        [environments.staging]
        endpoint = "https://business.dl.alipaydev.com"
        merchant_idd = "2160120041113167"
        client_id = "STAGING-1"
        private_key_env = "STAGING_KEY"
        platform_public_key_env = "ALIPAYHK_KEY"
        """,
    )
    run = run_cli(capsys, "-C", str(root), "plan", "--env", "staging")
    assert run.code == 1
    # merchant_id is not also reported missing: the misspelling already points at it.
    assert run.err.splitlines() == refusal(
        root,
        "3:1: environments.staging.merchant_idd: unknown setting; did you mean 'merchant_id'?",
    )


def test_misspelt_setting_does_not_hide_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(
        tmp_path,
        """\
        default_environment = "staging"

        [environments.staging]
        endpoint = "http://example.com"
        merchant_idd = "2160120041113167"
        private_key_env = "STAGING_KEY"
        platform_public_key_fil = "keys/platform.pem"
        """,
    )
    run = run_cli(capsys, "-C", str(root), "plan")
    assert run.code == 1
    assert run.err.splitlines() == refusal(
        root,
        "3:1: environments.staging.client_id: required: the Client-Id from the AlipayHK console",
        "4:1: environments.staging.endpoint: http:// is allowed only for a loopback address "
        "(127.0.0.1, ::1, localhost); use https://",
        "5:1: environments.staging.merchant_idd: unknown setting; did you mean 'merchant_id'?",
        "7:1: environments.staging.platform_public_key_fil: unknown setting; "
        "did you mean 'platform_public_key_file'?",
    )


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            "http://example.com",
            "http:// is allowed only for a loopback address (127.0.0.1, ::1, localhost); "
            "use https://",
        ),
        ("https://host.example:70000", "not a URL with a valid port (1 to 65535)"),
        ("https://host.example:0", "port 0 is not a port to connect to"),
        ("https://host.example:-1", "not a URL with a valid port (1 to 65535)"),
        ("ftp://host.example", 'must be an https:// URL, or "embedded" for the local sandbox'),
        ("https://user:secret@host.example", "must not carry a user name or password"),
    ],
    ids=["http-not-loopback", "port-70000", "port-0", "port-negative", "ftp", "userinfo"],
)
def test_bad_endpoint_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, message: str
) -> None:
    root = configured(
        tmp_path,
        "[environments.staging]\n" + FULL.replace("https://business.dl.alipaydev.com", endpoint),
    )
    for command in ("validate", "plan", "render"):
        run = run_cli(capsys, "-C", str(root), command, "--env", "staging")
        assert run.code == 1, command
        assert_no_crash(run)
        assert run.err.splitlines() == refusal(
            root, f"2:1: environments.staging.endpoint: {message}"
        ), command
    assert not (root / ".ipass").exists()


def test_bad_environment_names_are_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(
        tmp_path,
        """\
        default_environment = "Prod"

        [environments.Prod]
        endpoint = "embedded"
        """,
    )
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 1
    named = (
        "environment names are 1 to 32 lower-case letters, digits, - and _, starting with a letter"
    )
    assert run.err.splitlines() == refusal(
        root, f"1:1: default_environment: {named}", f"3:1: environments.Prod: {named}"
    )


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://localhost:8080", "localhost:8080"),
        ("http://[::1]:8080", "[::1]:8080"),
        ("https://host.example:65535", "host.example:65535"),
        ("https://host.example:1", "host.example:1"),
    ],
)
def test_good_endpoint_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], endpoint: str, host: str
) -> None:
    root = configured(
        tmp_path,
        "[environments.staging]\n" + FULL.replace("https://business.dl.alipaydev.com", endpoint),
    )
    run = run_cli(capsys, "-C", str(root), "plan", "--env", "staging")
    assert run.code == 0, run.err
    assert run.out.splitlines()[:2] == [
        "Plan for staging: 1 to create.",
        f"Publishes to {host} for merchant {STAGING_MERCHANT}.",
    ]


@pytest.mark.parametrize(
    "setting", ["private_key_env", "platform_public_key_env", "private_key_passphrase_env"]
)
def test_key_pasted_where_a_variable_name_belongs_is_refused_unrepeated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    kept = [line for line in FULL.splitlines() if not line.startswith(f"{setting} =")]
    toml = "\n".join(["[environments.staging]", *kept, f'{setting} = "{PEM}"', ""])
    root = configured(tmp_path, toml)
    line = toml.count("\n")  # the pasted value is the last line
    for command in ("validate", "plan", "render"):
        run = run_cli(capsys, "-C", str(root), command, "--env", "staging")
        assert run.code == 1, command
        assert run.err.splitlines() == refusal(
            root, f"{line}:1: environments.staging.{setting}: {NOT_A_NAME}"
        ), command
        for secret in ("BEGIN PRIVATE KEY", "MIIB", PEM[30:50]):
            assert secret not in run.out + run.err, command
    assert not (root / ".ipass").exists()


def test_embedded_endpoint_works_like_the_sandbox_under_any_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = configured(tmp_path, '[environments.local]\nendpoint = "embedded"\n')
    args = ("-C", str(root))
    checked = run_cli(capsys, *args, "validate", "--env", "local")
    assert checked.code == 0, checked.err
    assert checked.out == "ok: 1 entries from 1 files are valid for environment local\n"
    rendered = run_cli(capsys, *args, "render", "--env", "local")
    assert json.loads(rendered.out)["c"]["merchantId"] == SANDBOX_MERCHANT_ID
    planned = run_cli(capsys, *args, "plan", "--env", "local")
    assert planned.code == 0, planned.err
    assert planned.out.splitlines()[:2] == [
        "Plan for local: 1 to create.",
        f"Publishes to embedded sandbox for merchant {SANDBOX_MERCHANT_ID}.",
    ]
    applied = run_cli(capsys, *args, "apply", "--env", "local", "--auto-approve")
    assert applied.code == 0, applied.err
    assert applied.out.splitlines()[-1] == (
        f"done: 1 created, 0 retired; state recorded in {root / '.ipass/sandbox/state/local.json'}"
    )
    assert not (root / "state").exists()  # embedded state stays local, as the sandbox's does
    assert run_cli(capsys, *args, "plan", "--env", "local", "--detailed-exitcode").code == 0
    # The built-in sandbox is another environment: nothing was published there.
    assert run_cli(capsys, *args, "plan", "--detailed-exitcode").code == 2


def test_unknown_env_says_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = configured(tmp_path, "[environments.staging]\n" + FULL)
    for command in ("validate", "plan", "render", "apply"):
        run = run_cli(capsys, "-C", str(root), command, "--env", "stagin")
        assert run.code == 1, command
        assert run.out == "", command
        assert run.err.splitlines() == [
            "error: unknown environment 'stagin'; known: sandbox, staging",
            "hint: did you mean 'staging'? or add [environments.stagin] to ipass.toml",
        ], command
    assert not (root / ".ipass").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply to be an ipass.toml"),
        (
            b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
            "nested too deeply to be an ipass.toml",
        ),
        (b'default_environment = "sandbox"\ncatalog = "caf\xe9"\n', "not UTF-8 text"),
    ],
    ids=["arrays", "inline-tables", "latin-1"],
)
def test_unreadable_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    root = project(tmp_path, {**CATALOG, "ipass.toml": content})
    for command in ("validate", "plan", "render"):
        run = run_cli(capsys, "-C", str(root), command)
        assert run.code == 1, command
        assert run.out == "", command
        assert run.err.splitlines() == [f"error: {root / 'ipass.toml'}: {message}"], command
    assert not (root / ".ipass").exists()


def test_plan_names_the_environment_host_and_merchant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("STAGING_KEY", "ALIPAYHK_KEY"):
        monkeypatch.delenv(variable, raising=False)  # planning needs no credentials
    root = configured(tmp_path, "[environments.staging]\n" + FULL)
    run = run_cli(capsys, "-C", str(root), "plan", "--env", "staging")
    assert run.code == 0, run.err
    assert run.out.splitlines()[:2] == [
        "Plan for staging: 1 to create.",
        f"Publishes to business.dl.alipaydev.com for merchant {STAGING_MERCHANT}.",
    ]
    sandbox = run_cli(capsys, "-C", str(root), "plan")
    assert sandbox.code == 0, sandbox.err
    assert sandbox.out.splitlines()[:2] == [
        "Plan for sandbox: 1 to create.",
        f"Publishes to embedded sandbox for merchant {SANDBOX_MERCHANT_ID}.",
    ]
    as_json = run_cli(capsys, "-C", str(root), "plan", "--env", "staging", "--format", "json")
    binding = json.loads(as_json.out)["binding"]
    assert (binding["environment"], binding["endpoint"], binding["merchant_id"]) == (
        "staging",
        "business.dl.alipaydev.com",
        STAGING_MERCHANT,
    )
