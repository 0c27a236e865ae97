"""The identifiers AlipayHK hands out or expects, defined once.

Settings (`ipass.toml`), the sandbox and the state file all check these same rules, so a value
accepted in one place is never refused (or silently accepted) in another.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Final

from pydantic import AfterValidator, StringConstraints

from reconciler.domain.contract import limits as lim

# Checked with fullmatch: `$` alone also matches before a trailing newline.
# Merchant ids in every sample are 16 digits; the reference only promises alphanumerics.
MERCHANT_ID_RE: Final = re.compile(rf"^{lim.MERCHANT_ID_PATTERN}$")
# Client ids are issued by the AlipayHK console: printable ASCII without spaces.
CLIENT_ID_MAX: Final = 64
CLIENT_ID_RE: Final = re.compile(r"^[\x21-\x7e]{1,64}$")
# Template codes come back from createTemplate (32 digits in every sample). We accept what a
# person may paste from the console, but nothing that could not be one: printable, no
# whitespace, at most 64 characters.
TEMPLATE_CODE_MAX: Final = 64
TEMPLATE_CODE_RE: Final = re.compile(r"^[\x21-\x7e]{1,64}$")


def template_code_problem(code: str) -> str | None:
    """Why `code` cannot be a templateCode, or None when it can."""
    if not code:
        return "is empty"
    if len(code) > TEMPLATE_CODE_MAX:
        return f"is {len(code)} characters long; a templateCode has at most {TEMPLATE_CODE_MAX}"
    if not TEMPLATE_CODE_RE.fullmatch(code):
        return "may hold only printable ASCII characters, without spaces"
    return None


def merchant_id_problem(merchant_id: str) -> str | None:
    if not merchant_id:
        return "is empty"
    if len(merchant_id) > lim.MERCHANT_ID_MAX:
        return f"is longer than {lim.MERCHANT_ID_MAX} characters"
    if not MERCHANT_ID_RE.fullmatch(merchant_id):
        return "may hold only letters and digits"
    return None


def client_id_problem(client_id: str) -> str | None:
    if not client_id:
        return "is empty"
    if not CLIENT_ID_RE.fullmatch(client_id):
        return f"must be 1 to {CLIENT_ID_MAX} printable ASCII characters, without spaces"
    return None


def _template_code(value: str) -> str:
    problem = template_code_problem(value)
    if problem is not None:
        raise ValueError(f"templateCode {problem}")
    return value


def _merchant_id(value: str) -> str:
    problem = merchant_id_problem(value)
    if problem is not None:
        raise ValueError(f"merchant id {problem}")
    return value


def _client_id(value: str) -> str:
    problem = client_id_problem(value)
    if problem is not None:
        raise ValueError(f"client id {problem}")
    return value


TemplateCode = Annotated[str, StringConstraints(strict=True), AfterValidator(_template_code)]
MerchantId = Annotated[str, StringConstraints(strict=True), AfterValidator(_merchant_id)]
ClientId = Annotated[str, StringConstraints(strict=True), AfterValidator(_client_id)]


def is_loopback_host(host: str | None) -> bool:
    """`localhost` or a loopback address: the only hosts plain http:// may reach."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
