"""`ipass doctor`: every problem a first apply would meet, listed at once, through the real
command line, against the embedded sandbox, a sandbox server and a misbehaving fake AlipayHK."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers import Run, build_tree, run_cli
from httpfake import HKT, FakeAlipay, Reply
from reconcile_support import VECTORS, Rehearsal, rehearsal

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig, ServerTime
from reconciler.adapters.alipayhk.errors import Rejected, ResponseNotVerified
from reconciler.adapters.alipayhk.signing import RsaSha256Signer
from reconciler.adapters.alipayhk.transport import make_session
from reconciler.adapters.lock import EnvironmentLock
from reconciler.adapters.sandbox.faults import FaultKind, FaultRule
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH
from reconciler.domain.contract.rules import check_pass_request
from reconciler.usecases.probe import PROBE_SERIAL_PREFIX, PROBE_TEMPLATE_CODE, probe_request

LINE = re.compile(r"^(ok|warning|problem) {2,}[a-z ]+: ")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


def doctor(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Run:
    run = run_cli(capsys, "-C", str(root), "doctor", *args)
    for line in run.out.splitlines()[:-1]:  # every finding line, then its hint, then a summary
        assert LINE.match(line) or line.lstrip().startswith("hint: "), line
    assert "PRIVATE KEY" not in run.out + run.err
    assert "BEGIN" not in run.out + run.err
    return run


def lines(run: Run, severity: str) -> list[str]:
    return [line for line in run.out.splitlines() if line.startswith(severity + " ")]


def private_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_private(path: Path, pem: bytes) -> None:
    path.write_bytes(pem)
    path.chmod(0o600)


def edit_config(root: Path, old: str, new: str) -> None:
    path = root / "ipass.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def probe_requests(r: Rehearsal) -> list[str | None]:
    """The result code of each createPass the sandbox answered."""
    return [e.result_code for e in r.server.store.requests() if e.path == CREATE_PASS_PATH]


# -- all well --------------------------------------------------------------------------------------


def test_embedded_sandbox_passes_offline_then_online(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    run = doctor(capsys, project)
    assert run.code == 0, run.out
    assert lines(run, "problem") == lines(run, "warning") == []
    assert "ok       merchant key: not created yet: the embedded sandbox creates it" in run.out
    assert "ok       lock: sandbox: free" in run.out
    assert run.out.splitlines()[-1] == "no problems, 0 warnings: ready for `ipass apply`"
    assert not (project / ".ipass/sandbox/merchant_private_key.pem").exists()  # offline: untouched

    online = doctor(capsys, project, "--online")
    assert online.code == 0, online.out
    assert lines(online, "problem") == lines(online, "warning") == []
    (credentials,) = [line for line in online.out.splitlines() if " credentials: " in line]
    assert credentials.startswith("ok       credentials: accepted by embedded sandbox")
    assert "PASS_TEMPLATE_HAS_NOT_EXIT" in credentials
    assert any(line.startswith("ok       clock: ") for line in online.out.splitlines())

    again = doctor(capsys, project)  # the sandbox made its keys: now they are checked
    assert again.code == 0, again.out
    assert "RSA-2048 private key, loads" in again.out
    assert "RSA-2048 public key, loads" in again.out


def test_rehearsal_with_the_right_keys_passes_online_and_creates_nothing(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    run = doctor(capsys, rig.root, "--online")
    assert run.code == 0, run.out
    assert lines(run, "problem") == []
    host = rig.server.url.removeprefix("http://")
    assert f"ok       credentials: accepted by {host}: " in run.out
    assert f"ok       settings: environment rehearsal: {host}, merchant " in run.out
    assert probe_requests(rig) == ["PASS_TEMPLATE_HAS_NOT_EXIT"]
    assert rig.server.store.passes() == []
    assert rig.templates() == []


# -- credentials -----------------------------------------------------------------------------------


def test_wrong_merchant_key_is_refused_online_and_named(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(rig.root / "keys/merchant.pem", private_pem(other))
    offline = doctor(capsys, rig.root)
    assert offline.code == 0, offline.out  # a good key, just not the registered one
    run = doctor(capsys, rig.root, "--online")
    assert run.code == 6, run.out
    (problem,) = lines(run, "problem")
    assert "credentials: " in problem
    assert "refused the credentials: INVALID_SIGNATURE" in problem
    assert "merchant private key pairs with the public key uploaded" in run.out
    assert probe_requests(rig) == ["INVALID_SIGNATURE"]


def test_wrong_platform_key_fails_verification_and_is_named(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (rig.root / "keys/platform.pem").write_bytes(public_pem(other))
    run = doctor(capsys, rig.root, "--online")
    assert run.code == 6, run.out
    (problem,) = lines(run, "problem")
    platform = rig.root / "keys/platform.pem"
    assert f"does not verify with the platform public key (file {platform})" in problem
    assert "the platform public key is wrong" in problem
    assert "AlipayHK's key, not your merchant public key" in run.out


def test_every_local_problem_is_listed_in_one_run(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant, platform = rig.root / "keys/merchant.pem", rig.root / "keys/platform.pem"
    merchant.chmod(0o644)
    platform.unlink()
    edit_config(rig.root, 'client_id = "REHEARSAL-CLIENT"\n', "")
    run = doctor(capsys, rig.root, "--online")
    assert run.code == 6, run.out
    problems = lines(run, "problem")
    assert len(problems) == 3, run.out
    assert "settings: " in problems[0]
    assert "environments.rehearsal.client_id: required" in problems[0]
    assert f"merchant key: file {merchant} is readable or writable by group or others" in run.out
    assert "(mode 0644)" in run.out
    assert f"hint: chmod 600 {merchant}" in run.out
    assert f"platform key: platform public key: file {platform} does not exist" in run.out
    assert "warning  credentials: not checked online" in run.out
    assert run.out.splitlines()[-1].startswith("3 problems, 1 warning: ")
    assert probe_requests(rig) == []  # incomplete settings are never sent anywhere


def test_encrypted_key_needs_its_passphrase_which_is_never_printed(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_private(rig.root / "keys/merchant.pem", private_pem(MERCHANT, b"correct horse"))
    edit_config(
        rig.root,
        'private_key_file = "keys/merchant.pem"\n',
        'private_key_file = "keys/merchant.pem"\nprivate_key_passphrase_env = "DOCTOR_PASS"\n',
    )
    monkeypatch.delenv("DOCTOR_PASS", raising=False)
    unset = doctor(capsys, rig.root)
    assert unset.code == 6, unset.out
    assert "merchant key: passphrase variable $DOCTOR_PASS" in unset.out
    assert "is not set" in unset.out

    monkeypatch.setenv("DOCTOR_PASS", "battery staple")
    wrong = doctor(capsys, rig.root)
    assert wrong.code == 6, wrong.out
    assert "wrong passphrase" in wrong.out
    assert "battery staple" not in wrong.out + wrong.err

    monkeypatch.setenv("DOCTOR_PASS", "correct horse")
    right = doctor(capsys, rig.root, "--online")
    assert right.code == 0, right.out
    assert "correct horse" not in right.out + right.err


# -- state and lock --------------------------------------------------------------------------------


def test_a_held_lock_exits_3_naming_the_holder(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    with EnvironmentLock(rig.root / ".ipass/locks", "rehearsal", "apply") as held:
        run = doctor(capsys, rig.root)
    assert run.code == 3, run.out
    assert held.info is not None
    (problem,) = lines(run, "problem")
    assert problem.startswith("problem  lock: the state is locked: ")
    assert f"lock {held.info.lock_id} held by pid {os.getpid()}" in problem
    assert doctor(capsys, rig.root).code == 0  # released: free again


def test_a_damaged_state_file_exits_3(rig: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    rig.state_file.parent.mkdir(parents=True, exist_ok=True)
    rig.state_file.write_text('{"format_version": 2, "lineage": ', encoding="utf-8")
    run = doctor(capsys, rig.root)
    assert run.code == 3, run.out
    (problem,) = lines(run, "problem")
    assert problem.startswith(f"problem  state: state file {rig.state_file} is not valid JSON")


def test_unknown_outcomes_are_listed_with_the_resolve_advice_for_their_environment(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_config(rig.root, 'default_environment = "rehearsal"\n', "")
    rig.server.set_faults([FaultRule(kind=FaultKind.UNKNOWN_EXCEPTION, count=1)])
    args = ("-C", str(rig.root), "apply", "--env", "rehearsal", "--auto-approve")
    assert run_cli(capsys, *args).code == 5
    run = doctor(capsys, rig.root, "--env", "rehearsal")
    assert run.code == 5, run.out
    (problem,) = lines(run, "problem")
    assert problem.startswith("problem  outcomes: bus-shenzhen-bay: outcome unknown")
    assert (
        "`ipass state resolve bus-shenzhen-bay --env rehearsal --template-code CODE` "
        "(or `--not-created`)" in run.out
    )
    assert "`ipass apply --retry-unknown --target bus-shenzhen-bay --env rehearsal`" in run.out


def test_settings_that_do_not_parse_stop_the_other_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_tree(tmp_path, {"ipass.toml": "[environments.prod\n"})
    run = doctor(capsys, tmp_path, "--online")
    assert run.code == 1, run.out
    (problem,) = lines(run, "problem")
    assert problem.startswith("problem  settings: ")
    assert "not valid TOML" in problem
    assert len(run.out.splitlines()) == 3  # the problem, its hint, the summary


def test_an_unknown_environment_is_a_settings_problem(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    run = doctor(capsys, rig.root, "--env", "rehersal")
    assert run.code == 1, run.out
    assert "settings: unknown environment 'rehersal'" in run.out
    assert "did you mean 'rehearsal'?" in run.out


# -- the clock, against a fake AlipayHK that answers with a chosen Response-Time ----------------


def vector_key(name: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(VECTORS[name].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


PLATFORM = vector_key("platform_private_key_pkcs8_pem")
MERCHANT = vector_key("merchant_private_key_pkcs8_pem")
FAKE_CLIENT = "DOCTOR-FAKE-CLIENT"
NOT_FOUND = json.dumps(
    {
        "result": {
            "resultCode": "PASS_TEMPLATE_HAS_NOT_EXIT",
            "resultStatus": "F",
            "resultMessage": "Pass template does not exist.",
        }
    }
).encode()


@pytest.fixture
def fake() -> Iterator[FakeAlipay]:
    with FakeAlipay(PLATFORM, client_id=FAKE_CLIENT) as server:
        yield server


def fake_project(root: Path, fake: FakeAlipay) -> Path:
    build_tree(
        root,
        {
            "ipass.toml": f"""\
                default_environment = "live"

                [environments.live]
                endpoint = "{fake.url}"
                merchant_id = "2160120000000001"
                client_id = "{FAKE_CLIENT}"
                key_version = 1
                private_key_file = "merchant.pem"
                platform_public_key_file = "platform.pem"
            """,
            "platform.pem": public_pem(PLATFORM),
        },
    )
    write_private(root / "merchant.pem", private_pem(MERCHANT))
    return root


def answer_at(offset: dt.timedelta) -> Reply:
    moment = (dt.datetime.now(HKT) + offset).isoformat(timespec="seconds")
    return Reply(body=NOT_FOUND, response_time=moment)


def test_a_clock_a_few_minutes_off_is_a_warning(
    tmp_path: Path, fake: FakeAlipay, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_project(tmp_path, fake)
    fake.handler = lambda _: answer_at(dt.timedelta(minutes=2))
    run = doctor(capsys, root, "--online")
    assert run.code == 0, run.out
    (warning,) = lines(run, "warning")
    assert re.match(
        r"warning  clock: this machine's clock is 1[12]\ds behind 127\.0\.0\.1:", warning
    )
    assert "(300s allowed)" in warning
    (request,) = fake.requests
    body = json.loads(request.body)
    assert body["templateCode"] == PROBE_TEMPLATE_CODE
    assert body["bizSerialId"].startswith(PROBE_SERIAL_PREFIX)


def test_a_clock_outside_the_allowed_window_is_a_problem_not_a_wrong_key(
    tmp_path: Path, fake: FakeAlipay, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_project(tmp_path, fake)
    fake.handler = lambda _: answer_at(dt.timedelta(minutes=-10))
    run = doctor(capsys, root, "--online")
    assert run.code == 1, run.out
    (problem,) = lines(run, "problem")
    assert re.match(
        r"problem  clock: this machine's clock is 60\ds ahead of 127\.0\.0\.1:", problem
    )
    assert "warning  credentials: not judged: the answer was refused for its Response-Time" in (
        run.out
    )


def test_a_request_that_was_never_sent_is_a_network_problem(
    tmp_path: Path, fake: FakeAlipay, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_project(tmp_path, fake)
    edit_config(root, fake.url, "http://127.0.0.1:9")  # discard port: nothing listens
    run = doctor(capsys, root, "--online")
    assert run.code == 1, run.out
    (problem,) = lines(run, "problem")
    assert "credentials: not checked: the request to 127.0.0.1:9 was not sent" in problem


# -- the pieces ----------------------------------------------------------------------------------


def test_the_probe_is_a_valid_create_pass_for_a_template_that_cannot_exist() -> None:
    now = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    probe = probe_request("2160120000000001", now=now, serial="ipass-doctor-00ff")
    data = json.loads(probe.body)
    assert check_pass_request(data).ok
    assert data["templateCode"] == PROBE_TEMPLATE_CODE
    assert data["bizSerialId"] == probe.biz_serial_id == "ipass-doctor-00ff"
    assert (
        probe.body
        == json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    )


def test_the_client_keeps_the_last_response_time_even_when_it_refuses_the_answer(
    fake: FakeAlipay,
) -> None:
    config = ClientConfig(
        base_url=fake.url,
        client_id=FAKE_CLIENT,
        key_version=1,
        signer=RsaSha256Signer(MERCHANT),
        platform_public_key=PLATFORM.public_key(),
    )
    with AlipayClient(config, make_session()) as client:

        def probe(reply: Reply, error: type[Exception]) -> ServerTime | None:
            fake.handler = lambda _: reply
            with pytest.raises(error):
                client.create_pass(b"{}", biz_serial_id="s1")
            return client.last_server_time

        assert client.last_server_time is None
        behind = probe(answer_at(dt.timedelta(seconds=-90)), Rejected)
        assert behind is not None
        assert behind.within_allowed
        assert -92 <= behind.skew.total_seconds() <= -89
        ahead = probe(answer_at(dt.timedelta(minutes=6)), ResponseNotVerified)
        assert ahead is not None
        assert not ahead.within_allowed
        unreadable = Reply(body=NOT_FOUND, headers={"Response-Time": "yesterday"})
        assert probe(unreadable, ResponseNotVerified) is None  # nothing is guessed
