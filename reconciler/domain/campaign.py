"""A pass campaign (`catalog/passes/NAME.yaml`): how each input row becomes one createPass body.

The file names a catalog template (`template: KEY`; its templateCode, type and product come from
the recorded state) and gives every createPass field as a value rendered per row in the same
Jinja sandbox as the catalog, with `row.COLUMN`, the catalog's variables and the campaign's own
`vars` in the context. Dates take epoch milliseconds, the catalog's date forms, or `now` / `+Nd`
/ `+Nh` / `+Nm` counted from the campaign's anchor: the moment its ledger was started, so a row
rendered again on a re-run gives the very same body.

User ids are personal data: `Masker` hides them in every line ipass prints or writes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError
from pydantic_core import PydanticCustomError

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.dates import to_end_millis, to_epoch_millis
from reconciler.domain.contract.rules import check_pass_request
from reconciler.domain.problems import FieldPath, Problem, format_field_path
from reconciler.domain.templating import PlainData, Renderer, TemplateProblem, needs_rendering
from reconciler.domain.yamlsafe import YamlDocument

CATALOG_KEY: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(\[[A-Za-z0-9][A-Za-z0-9 ._:/+-]{0,63}\])?$"
CAMPAIGN_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RELATIVE: Final = re.compile(r"^\+(?P<count>\d{1,5})(?P<unit>[dhm])$")
_UNIT_MS: Final = {"d": 86_400_000, "h": 3_600_000, "m": 60_000}
DateValue = Annotated[
    int | str,
    Field(
        description="epoch ms, 2027-01-31, ISO-8601 with offset, or relative to the campaign's "
        "start: now, +30d, +12h, +90m (or a {{ expression }} giving one of these)"
    ),
]


class Campaign(BaseModel):
    """What `catalog/passes/NAME.yaml` holds. String values are Jinja, rendered per row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: Annotated[str, StringConstraints(pattern=CATALOG_KEY)] = Field(
        description="The catalog key of the template to issue from (it must be created)."
    )
    vars: dict[str, JsonValue] = Field(
        default_factory=dict, description="Variables for this campaign's values."
    )
    userId: str | None = Field(None, description="The AlipayHK userId, e.g. {{ row.user_id }}.")
    openId: str | None = Field(None, description="Or the user's openId for this merchant.")
    bizSerialId: str = Field(
        description="The pass's unique serial (the idempotency key), e.g. welcome-{{ row.id }}."
    )
    startDate: DateValue = "now"
    endDate: DateValue
    bizCreate: DateValue = "now"
    codeInfo: dict[str, JsonValue] = Field(description="$codevalue$ and $codemsg$.")
    dataInfo: dict[str, JsonValue] | None = None
    extInfo: dict[str, JsonValue] | None = None
    publishScene: str | None = Field(None, description="FREE_GIVE, for gift cards.")


_RENDERED_FIELDS: Final = (
    "userId",
    "openId",
    "bizSerialId",
    "startDate",
    "endDate",
    "bizCreate",
    "codeInfo",
    "dataInfo",
    "extInfo",
    "publishScene",
)
_DATES: Final = ("startDate", "endDate", "bizCreate")


def campaign_problems(document: YamlDocument) -> tuple[Campaign | None, list[Problem]]:
    """The campaign, or every problem located as `file:line:col: field: message`."""
    try:
        return Campaign.model_validate(document.data), []
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False, include_input=False):
            loc: FieldPath = tuple(item["loc"])
            where = document.position_of(loc)
            message = item["msg"]
            if item["type"] == "extra_forbidden":
                message = f"unknown field; allowed: {', '.join(Campaign.model_fields)}"
            problems.append(
                Problem(document.path, where.line, where.column, format_field_path(loc), message)
            )
        return None, problems


@dataclass(frozen=True)
class TemplateRef:
    """The template passes are issued from, as the state records it."""

    key: str
    template_code: str
    type: str
    product: str


@dataclass(frozen=True, order=True)
class RowProblem:
    """`file:row: field: message [CODE]` for one input row."""

    row: int
    field: str
    message: str
    code: str | None = None

    def line(self, file: str) -> str:
        code = f" [{self.code}]" if self.code else ""
        field = f" {self.field}:" if self.field else ""
        return f"{file}:{self.row}:{field} {self.message}{code}"


@dataclass(frozen=True)
class RenderedPass:
    """One row's createPass body, canonical bytes as signed, and what identifies it."""

    row: int
    biz_serial_id: str
    user_ref: str
    body: bytes
    body_sha256: str


def relative_date(value: int | str, anchor_ms: int, *, end: bool) -> int:
    """Epoch ms for a date value; `now` / `+30d` / `+12h` / `+90m` count from `anchor_ms`."""
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return anchor_ms
        found = _RELATIVE.match(text)
        if found:
            return anchor_ms + int(found["count"]) * _UNIT_MS[found["unit"]]
    return to_end_millis(value) if end else to_epoch_millis(value)


def shard_of(biz_serial_id: str, count: int) -> int:
    """The shard (0..count-1) a bizSerialId belongs to: stable across machines and runs."""
    digest = hashlib.sha256(biz_serial_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


class PassRenderer:
    """Renders and checks rows of one campaign; not thread-safe (the renderer is not)."""

    def __init__(
        self,
        campaign: Campaign,
        template: TemplateRef,
        *,
        merchant_id: str,
        renderer: Renderer,
        variables: Mapping[str, PlainData],
        anchor_ms: int,
    ) -> None:
        self._campaign = campaign
        self._template = template
        self._merchant_id = merchant_id
        self._renderer = renderer
        self._context: dict[str, PlainData] = {**variables, **campaign.vars}
        self._anchor_ms = anchor_ms
        self._fields = {
            name: value
            for name in _RENDERED_FIELDS
            if (value := getattr(campaign, name)) is not None
        }

    def render(self, number: int, row: Mapping[str, PlainData]) -> RenderedPass | list[RowProblem]:
        """The row's body, or every problem with it."""
        context = {**self._context, "row": dict(row)}
        problems: list[RowProblem] = []
        body: dict[str, object] = {
            "merchantId": self._merchant_id,
            "templateCode": self._template.template_code,
            "bizSerialType": "OUT_PLAT_FORM",
            "type": self._template.type,
            "product": self._template.product,
        }
        for name, source in self._fields.items():
            value = self._tree(source, (name,), context, number, problems)
            if value is None or value == "":
                continue
            if name in _DATES:
                value = self._date(name, value, number, problems)
            if value is not None:
                body[name] = value
        if problems:
            return problems
        return self._checked(number, body)

    def _tree(
        self,
        value: object,
        path: FieldPath,
        context: Mapping[str, PlainData],
        number: int,
        problems: list[RowProblem],
    ) -> PlainData:
        if isinstance(value, str):
            if not needs_rendering(value):
                return value
            try:
                return self._renderer.render(value, context)
            except TemplateProblem as error:
                problems.append(RowProblem(number, format_field_path(path), error.message))
                return None
        if isinstance(value, dict):
            return {
                k: self._tree(v, (*path, k), context, number, problems) for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self._tree(v, (*path, i), context, number, problems) for i, v in enumerate(value)
            ]
        if isinstance(value, bool | int | float) or value is None:
            return value
        raise TypeError(f"not plain data: {type(value).__name__}")

    def _date(
        self, name: str, value: PlainData, number: int, problems: list[RowProblem]
    ) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | str):
            problems.append(RowProblem(number, name, "must be a date", "PARAM_ILLEGAL"))
            return None
        try:
            return relative_date(value, self._anchor_ms, end=name == "endDate")
        except PydanticCustomError as error:
            message = f"{error.message()}; or now, +30d, +12h, +90m"
            problems.append(RowProblem(number, name, message, "PARAM_ILLEGAL"))
            return None

    def _checked(self, number: int, body: dict[str, object]) -> RenderedPass | list[RowProblem]:
        checked = check_pass_request(body)
        problems = [
            RowProblem(number, format_field_path(v.loc), v.message, str(v.code))
            for v in checked.violations
        ]
        start, end = body.get("startDate"), body.get("endDate")
        if isinstance(start, int) and isinstance(end, int) and end <= start:
            problems.append(
                RowProblem(number, "endDate", "must be after startDate", "PARAM_ILLEGAL")
            )
        if problems or checked.value is None:
            return problems or [RowProblem(number, "", "invalid", str(ResultCode.PARAM_ILLEGAL))]
        data = canonical_json(body)
        user = body.get("userId") or body.get("openId")
        return RenderedPass(
            row=number,
            biz_serial_id=str(body["bizSerialId"]),
            user_ref=str(user),
            body=data,
            body_sha256=sha256_hex(data),
        )


def mask_id(value: str) -> str:
    """`2160220000000123` -> `2160**********23`: enough to tell rows apart, not to contact."""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 6) + value[-2:]


class Masker:
    """Hides user ids inside text (a bizSerialId often contains one)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled

    def text(self, text: str, secrets: Iterator[str] | tuple[str, ...]) -> str:
        if not self.enabled:
            return text
        for secret in secrets:
            if secret and secret in text:
                text = text.replace(secret, mask_id(secret))
        return text


def row_secrets(row: Mapping[str, PlainData], rendered: RenderedPass | None) -> tuple[str, ...]:
    """The user ids a row carries: its rendered one, and any column that names a user."""
    found = [rendered.user_ref] if rendered is not None else []
    for column, value in row.items():
        lowered = column.lower()
        if isinstance(value, str | int) and ("user" in lowered or "open" in lowered):
            found.append(str(value))
    return tuple(sorted({s for s in found if len(s) >= 4}, key=len, reverse=True))
