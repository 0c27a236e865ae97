"""`ipass doctor --online`: one signed createPass that cannot create anything, and what its
answer proves.

The body is a complete, valid createPass naming a templateCode that no createTemplate returns.
AlipayHK checks who is calling before it reads the body, so:

* a credential refusal (INVALID_SIGNATURE, INVALID_CLIENT, KEY_NOT_FOUND, ACCESS_DENIED) means
  the Client-Id, merchant id, merchant key or keyVersion are wrong;
* a business answer (PASS_TEMPLATE_HAS_NOT_EXIT, ...) that verifies with the platform public key
  means the credentials were accepted and the platform key is right;
* an answer that does not verify means the platform public key is wrong (or its Response-Time
  is too far from this machine's clock, which is reported as such).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from reconciler.domain.canonical import canonical_json
from reconciler.domain.config import Target
from reconciler.errors import ExitCode, IpassError, StorageError
from reconciler.usecases.doctor import Finding, key_sources

if TYPE_CHECKING:
    from reconciler.adapters.alipayhk.client import ServerTime
    from reconciler.adapters.alipayhk.errors import AmbiguousOutcome, NotSent, Rejected

# Within the 32-character limit and unlike any code AlipayHK issues (theirs are digits).
PROBE_TEMPLATE_CODE: Final = "IPASS-DOCTOR-NO-SUCH-TEMPLATE"
PROBE_USER_ID: Final = "IPASS-DOCTOR-NO-SUCH-USER"
PROBE_SERIAL_PREFIX: Final = "ipass-doctor-"
# Clocks further apart than this are worth a warning before the client refuses the answers.
CLOCK_WARNING: Final = timedelta(seconds=30)
CREDENTIALS: Final = "credentials"
CLOCK: Final = "clock"


@dataclass(frozen=True)
class Probe:
    """The one createPass doctor sends: its exact body and its bizSerialId."""

    body: bytes
    biz_serial_id: str


def probe_request(merchant_id: str, *, now: datetime, serial: str) -> Probe:
    """A createPass for a template that cannot exist, valid by the rules the sandbox applies (so
    a refusal is about the template, never about the body)."""
    from reconciler.domain.contract.rules import check_pass_request

    now_ms = int(now.timestamp() * 1000)
    data = {
        "merchantId": merchant_id,
        "userId": PROBE_USER_ID,
        "templateCode": PROBE_TEMPLATE_CODE,
        "bizSerialId": serial,
        "bizSerialType": "OUT_PLAT_FORM",
        "startDate": now_ms,
        "endDate": now_ms + 86_400_000,
        "bizCreate": now_ms,
        "type": "COUPON",
        "product": "GIFT_CARD",
        "codeInfo": {"$codevalue$": "", "$codemsg$": ""},
    }
    checked = check_pass_request(data)
    if not checked.ok:
        broken = "; ".join(f"{'.'.join(map(str, v.loc))}: {v.message}" for v in checked.violations)
        raise IpassError(f"the createPass probe is not a valid request: {broken}")
    return Probe(canonical_json(data), serial)


def check_online(target: Target) -> list[Finding]:
    """Send the probe; report what the answer says about the credentials and the clock."""
    from reconciler.adapters.alipayhk.errors import AmbiguousOutcome, NotSent, Rejected
    from reconciler.usecases.connect import open_client

    serial = PROBE_SERIAL_PREFIX + secrets.token_hex(8)
    outcome: Rejected | NotSent | AmbiguousOutcome | None = None
    try:
        probe = probe_request(target.merchant_id, now=datetime.now(UTC), serial=serial)
        with open_client(target) as client:
            try:
                client.create_pass(probe.body, biz_serial_id=probe.biz_serial_id)
            except (Rejected, NotSent, AmbiguousOutcome) as error:
                outcome = error
            server_time = client.last_server_time
    except IpassError as error:  # the keys, the endpoint, or starting the embedded sandbox
        return [Finding.from_error(CREDENTIALS, error)]
    except OSError as error:  # the embedded sandbox's folder, database or port
        refused = StorageError.refused(target.work_dir, "start the embedded sandbox", error)
        return [Finding.from_error(CREDENTIALS, refused)]
    return list(_findings(target, outcome, server_time))


def _findings(
    target: Target,
    outcome: Rejected | NotSent | AmbiguousOutcome | None,
    server_time: ServerTime | None,
) -> Iterator[Finding]:
    from reconciler.adapters.alipayhk.errors import (
        AmbiguousOutcome,
        NotSent,
        Rejected,
        ResponseNotVerified,
    )

    clock_refused = server_time is not None and not server_time.within_allowed
    match outcome:
        case None:
            yield Finding.warning(
                CREDENTIALS,
                f"accepted, but {target.endpoint_host} created a pass for templateCode "
                f"{PROBE_TEMPLATE_CODE}, which cannot exist",
                "this endpoint does not behave like AlipayHK; check the endpoint in ipass.toml",
            )
        case Rejected():
            yield _rejected(target, outcome)
        case NotSent():
            yield Finding.problem(
                CREDENTIALS,
                f"not checked: the request to {target.endpoint_host} was not sent "
                f"({outcome.detail})",
                "check the endpoint in ipass.toml and the network, then run again",
                ExitCode.INVALID_INPUT,
            )
        case ResponseNotVerified() if clock_refused:
            yield Finding.warning(
                CREDENTIALS,
                "not judged: the answer was refused for its Response-Time (see clock)",
                "set this machine's clock, then run `ipass doctor --online` again",
            )
        case ResponseNotVerified():
            yield _unverified(target, outcome)
        case AmbiguousOutcome():
            yield Finding.problem(
                CREDENTIALS,
                f"not judged: {outcome.reason}",
                "run `ipass doctor --online` again later; the probe cannot create anything",
                ExitCode.INVALID_INPUT,
            )
    if server_time is not None:
        yield _clock(target, server_time)


def _rejected(target: Target, error: Rejected) -> Finding:
    from reconciler.domain.contract.codes import ResultCode

    code = ResultCode.known(error.result_code)
    said = f"{error.result_code}: {error.result_message}"
    if code is not None and code.is_credential_refusal:
        return Finding.problem(
            CREDENTIALS,
            f"{target.endpoint_host} refused the credentials: {said}",
            f"check client_id ({target.client_id}), merchant_id ({target.merchant_id}), "
            f"key_version ({target.settings.key_version}), and that the merchant private key "
            "pairs with the public key uploaded for this Client-Id in the AlipayHK console",
            ExitCode.CREDENTIALS,
        )
    if code is not None and code.is_gateway_refusal:
        return Finding.problem(
            CREDENTIALS,
            f"{target.endpoint_host} refused the call before reading it: {said}",
            "check the endpoint in ipass.toml: the gateway's base URL, without an API path",
            ExitCode.INVALID_INPUT,
        )
    # Anything else is the operation answering: the gateway accepted who is calling.
    return Finding.ok(
        CREDENTIALS,
        f"accepted by {target.endpoint_host}: the probe (templateCode {PROBE_TEMPLATE_CODE}) was "
        f"answered {said} (verified with the platform key); nothing was created",
    )


def _unverified(target: Target, error: AmbiguousOutcome) -> Finding:
    platform = key_sources(target).platform
    where = f" ({platform})" if platform is not None else ""
    return Finding.problem(
        CREDENTIALS,
        f"the answer does not verify with the platform public key{where}: {error.detail}; the "
        "platform public key is wrong (or the endpoint is not AlipayHK)",
        f"copy AlipayHK's public key for Client-Id {target.client_id} from the AlipayHK console "
        "into platform_public_key_file (or _env): AlipayHK's key, not your merchant public key",
        ExitCode.CREDENTIALS,
    )


def _clock(target: Target, server_time: ServerTime) -> Finding:
    # Response-Time has whole seconds, so up to a second (plus the round trip) is no skew.
    ahead = -server_time.skew.total_seconds()
    allowed = f"{server_time.allowed.total_seconds():.0f}s allowed"
    if abs(ahead) < 2:
        detail = f"this machine's clock agrees with {target.endpoint_host}'s Response-Time"
    else:
        direction = "ahead of" if ahead > 0 else "behind"
        detail = (
            f"this machine's clock is {abs(ahead):.0f}s {direction} "
            f"{target.endpoint_host}'s Response-Time"
        )
    fix = "set this machine's clock from a time server (NTP)"
    if not server_time.within_allowed:
        return Finding.problem(CLOCK, f"{detail} ({allowed})", fix, ExitCode.INVALID_INPUT)
    if abs(server_time.skew) > CLOCK_WARNING:
        return Finding.warning(CLOCK, f"{detail} ({allowed})", fix)
    return Finding.ok(CLOCK, f"{detail} ({allowed})")
