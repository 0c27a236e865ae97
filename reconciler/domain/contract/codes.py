"""Result codes of createTemplate / createPass, which of them are the gateway refusing the caller,
and how a broken rule becomes a coded message.

Codes are spelled exactly as the vendor does: ALIPAYHK_IPASS.md 1.11 (gateway), 2.7
(createTemplate), 3.5 (createPass). Messages say what is wrong and what is allowed, and never
repeat more than about 40 characters of an input value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from enum import StrEnum, auto
from functools import cache
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from reconciler.domain.contract.limits import vendor_length

Loc = tuple[str | int, ...]


class ResultStatus(StrEnum):
    """`S` succeeded; `F` failed for good (do not retry unchanged); `U` outcome unknown."""

    S = "S"
    F = "F"
    U = "U"


class _Named(StrEnum):
    """Members whose value is their own name, so a code can never be misspelled twice."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
        return name


class ResultCode(_Named):
    """Every result code of sections 1.11, 2.7 and 3.5; the value is the vendor's spelling."""

    SUCCESS = auto()
    # Gateway codes (1.11).
    PARAM_ILLEGAL = auto()
    PROCESS_FAIL = auto()
    KEY_NOT_FOUND = auto()
    ACCESS_DENIED = auto()
    REQUEST_TRAFFIC_EXCEED_LIMIT = auto()
    INVALID_API = auto()
    INVALID_CLIENT = auto()
    INVALID_SIGNATURE = auto()
    METHOD_NOT_SUPPORTED = auto()
    MEDIA_TYPE_NOT_ACCEPTABLE = auto()
    UNKNOWN_EXCEPTION = auto()
    # createTemplate (2.7).
    PASS_TEMPLATE_BTN_URL_ILLEGAL = auto()
    PASS_TEMPLATE_IMAGE_URL_ILLEGAL = auto()
    PASS_TEMPLATE_NAME_ILLEGAL = auto()
    PASS_TEMPLATE_DESCRIPTION_ILLEGAL = auto()
    PASS_TEMPLATE_BRAND_NAME_ILLEGAL = auto()
    PASS_TEMPLATE_SHOP_ILLEGAL = auto()
    PASS_TEMPLATE_TAG_LABEL_ILLEGAL = auto()
    PASS_TEMPLATE_TAG_VALUE_ILLEGAL = auto()
    PASS_TEMPLATE_START_TIME_LESS_CURRENT = auto()
    PASS_TEMPLATE_START_TIME_EXCEED = auto()
    PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL = auto()
    PASS_TEMPLATE_END_TIME_EXCEED = auto()
    PASS_TEMPLATE_IMAGE_INVALID = auto()
    PASS_TEMPLATE_CUSTOMTAB_URL_INVALID = auto()
    PASS_TEMPLATE_BTN_URL_INVALID = auto()
    PASS_TEMPLATE_CONTENT_INVALID = auto()
    # createPass (3.5).
    USER_NOT_EXIST = auto()
    PASS_HAS_EXIST = auto()
    PASS_TEMPLATE_HAS_NOT_EXIT = auto()  # sic: the vendor's spelling
    PASS_TYPE_NOT_MATCH = auto()
    PASS_PRODUCT_TYPE_NOT_MATCH = auto()
    PASS_TEMPLATE_JSON_CONTENT_IS_NULL = auto()
    PASS_TEMPLATE_JSON_CONTENT_ILLEGAL = auto()

    @classmethod
    def known(cls, text: str) -> ResultCode | None:
        """The code spelled `text`, or None: AlipayHK may answer with codes this model lacks."""
        try:
            return cls(text)
        except ValueError:
            return None

    @property
    def is_credential_refusal(self) -> bool:
        """The gateway refused who is calling: Client-Id, key, keyVersion, signature, merchant."""
        return self in CREDENTIAL_CODES

    @property
    def is_gateway_refusal(self) -> bool:
        """The gateway refused the call before any operation ran (credentials or endpoint)."""
        return self in GATEWAY_REFUSALS


# Refusals about the caller's identity (1.11): fix the credentials, not the request body.
CREDENTIAL_CODES: Final = frozenset(
    {
        ResultCode.INVALID_CLIENT,
        ResultCode.INVALID_SIGNATURE,
        ResultCode.KEY_NOT_FOUND,
        ResultCode.ACCESS_DENIED,
    }
)
# Everything the gateway refuses before an operation reads the body (1.11): the credentials, or
# how the call is made (path, method, media type). PARAM_ILLEGAL, PROCESS_FAIL and the two U codes
# are not here: the operations answer with them too, so they prove nothing about the gateway.
GATEWAY_REFUSALS: Final = CREDENTIAL_CODES | frozenset(
    {
        ResultCode.INVALID_API,
        ResultCode.METHOD_NOT_SUPPORTED,
        ResultCode.MEDIA_TYPE_NOT_ACCEPTABLE,
    }
)

_UNKNOWN_OUTCOME: Final = frozenset(
    {ResultCode.UNKNOWN_EXCEPTION, ResultCode.REQUEST_TRAFFIC_EXCEED_LIMIT}
)


def status_of(code: ResultCode) -> ResultStatus:
    """The status the vendor pairs with `code` (1.11, 2.7, 3.5)."""
    if code is ResultCode.SUCCESS:
        return ResultStatus.S
    if code in _UNKNOWN_OUTCOME:
        return ResultStatus.U
    return ResultStatus.F


# Vendor wording where the seed pages give one (2.7, 3.5, 4.4, 4.8); ours for the gateway codes.
MESSAGES: Final[Mapping[ResultCode, str]] = MappingProxyType(
    {
        ResultCode.SUCCESS: "success",
        ResultCode.PARAM_ILLEGAL: "Request is invalid, usually missing parameters.",
        ResultCode.PROCESS_FAIL: "General business failure.",
        ResultCode.KEY_NOT_FOUND: "No key found for this Client-Id and keyVersion.",
        ResultCode.ACCESS_DENIED: "Access denied.",
        ResultCode.REQUEST_TRAFFIC_EXCEED_LIMIT: "Traffic limit exceeded.",
        ResultCode.INVALID_API: "The API is invalid or not active.",
        ResultCode.INVALID_CLIENT: "The client is invalid.",
        ResultCode.INVALID_SIGNATURE: "The signature is invalid.",
        ResultCode.METHOD_NOT_SUPPORTED: "The HTTP method is not supported.",
        ResultCode.MEDIA_TYPE_NOT_ACCEPTABLE: "The media type is not acceptable.",
        ResultCode.UNKNOWN_EXCEPTION: "Failed for an unknown reason.",
        ResultCode.PASS_TEMPLATE_BTN_URL_ILLEGAL: "Template button URL is invalid.",
        ResultCode.PASS_TEMPLATE_IMAGE_URL_ILLEGAL: "Template image URL is invalid.",
        ResultCode.PASS_TEMPLATE_NAME_ILLEGAL: "Template name format illegally.",
        ResultCode.PASS_TEMPLATE_DESCRIPTION_ILLEGAL: "Template description format illegally",
        ResultCode.PASS_TEMPLATE_BRAND_NAME_ILLEGAL: "Template brand name format illegally.",
        ResultCode.PASS_TEMPLATE_SHOP_ILLEGAL: "Template shops format illegally.",
        ResultCode.PASS_TEMPLATE_TAG_LABEL_ILLEGAL: "Template custom label format illegally.",
        ResultCode.PASS_TEMPLATE_TAG_VALUE_ILLEGAL: "Template custom value format illegally.",
        ResultCode.PASS_TEMPLATE_START_TIME_LESS_CURRENT: (
            "Template start date is less than the current timestamp."
        ),
        ResultCode.PASS_TEMPLATE_START_TIME_EXCEED: (
            "The start time of gift card template exceeds the allowable range."
        ),
        ResultCode.PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL: (
            "The start and end time interval of gift card template is illegal."
        ),
        ResultCode.PASS_TEMPLATE_END_TIME_EXCEED: (
            "The end time of gift card template exceeds the allowable range."
        ),
        ResultCode.PASS_TEMPLATE_IMAGE_INVALID: (
            "The picture of the gift card template contains sensitive content."
        ),
        ResultCode.PASS_TEMPLATE_CUSTOMTAB_URL_INVALID: (
            "The custom url of the gift card template contains sensitive content."
        ),
        ResultCode.PASS_TEMPLATE_BTN_URL_INVALID: (
            "The button url of the gift card template contains sensitive content."
        ),
        ResultCode.PASS_TEMPLATE_CONTENT_INVALID: (
            "The gift card template text contains sensitive content."
        ),
        ResultCode.USER_NOT_EXIST: "User does not exist.",
        ResultCode.PASS_HAS_EXIST: "Pass has been created.",
        ResultCode.PASS_TEMPLATE_HAS_NOT_EXIT: "Pass template does not exist.",
        ResultCode.PASS_TYPE_NOT_MATCH: "Pass type does not match the template.",
        ResultCode.PASS_PRODUCT_TYPE_NOT_MATCH: "Pass product type does not match the template.",
        ResultCode.PASS_TEMPLATE_JSON_CONTENT_IS_NULL: "Pass template content is empty.",
        ResultCode.PASS_TEMPLATE_JSON_CONTENT_ILLEGAL: "Pass template content is illegal.",
    }
)

# The pydantic error type that carries a vendor code in its context (see `vendor_error`).
VENDOR_ERROR_TYPE: Final = "vendor_rule"


def vendor_error(code: ResultCode, message: str) -> PydanticCustomError:
    """A validation error that says what is wrong and which vendor code the vendor would return."""
    return PydanticCustomError(VENDOR_ERROR_TYPE, "{reason}", {"reason": message, "code": code})


_SHOWN_MAX: Final = 40


def shown(text: str) -> str:
    """`text` quoted for a message, cut to about 40 characters (inputs can be long or private)."""
    return repr(text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "...")


def _number(value: int | float) -> str:
    if isinstance(value, int) and value.bit_length() >= 128:  # str() of a huge int can raise
        return "a number with more than 38 digits"
    return f"the number {value!r}"


_DESCRIPTIONS: Final[tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...]] = (
    (type(None), lambda _: "null"),
    (bool, lambda value: f"the boolean {str(value).lower()}"),
    (str, lambda value: f"the string {shown(value)}"),
    ((int, float), _number),
    ((list, tuple), lambda _: "an array"),
    (dict, lambda _: "an object"),
)


def describe(value: object) -> str:
    """A short JSON-flavoured description of an input value, safe to put in a message."""
    for kinds, text in _DESCRIPTIONS:
        if isinstance(value, kinds):
            return text(value)
    return f"a {type(value).__name__}"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` probably meant: the same ignoring case, else the closest spelling."""
    options = list(choices)
    folded = {option.casefold(): option for option in options}
    if word.casefold() in folded:
        return folded[word.casefold()]
    close = get_close_matches(word[:64], options, n=1)  # difflib is quadratic: cap the input
    return close[0] if close else None


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (vendor field path), what is wrong and allowed, the vendor code."""

    loc: Loc
    message: str
    code: ResultCode


# --- pydantic errors -> violations -------------------------------------------------------------

_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "string_type": "a string",
        "int_type": "a whole number",
        "bool_type": "true or false",
        "float_type": "a number",
        "list_type": "an array",
        "dict_type": "an object",
        "model_type": "an object",
        "model_attributes_type": "an object",
    }
)
# Top-level fields that catalog authors must not write (extra in TemplateContent only).
_NOT_FOR_AUTHORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "requestId": "requestId is derived by ipass; remove it",
        "merchantId": "merchantId comes from the environment in ipass.toml; remove it",
    }
)


@dataclass(frozen=True)
class _Schema:
    """Finds the model and field behind an error location (for names, enums and hints)."""

    root: type[BaseModel]
    dynamic: Mapping[str, type[BaseModel]]  # top-level fields whose model depends on product

    def model_at(self, loc: Loc) -> type[BaseModel] | None:
        model: type[BaseModel] | None = self.root
        for depth, part in enumerate(loc):
            if isinstance(part, int) or model is None:
                continue
            field = _fields(model).get(part)
            if field is None:
                return None
            chosen = self.dynamic.get(part) if depth == 0 else None
            model = chosen or _model_in(field.annotation)
        return model

    def field_at(self, loc: Loc) -> FieldInfo | None:
        model = self.model_at(loc[:-1]) if loc else None
        last = loc[-1] if loc else None
        return _fields(model).get(last) if model is not None and isinstance(last, str) else None


@cache
def _fields(model: type[BaseModel]) -> Mapping[str, FieldInfo]:
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _unwrap(annotation: object) -> Iterator[object]:
    """The types inside Optional / Union / list / Annotated."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType, list, Annotated):
        args = get_args(annotation)
        for arg in args[:1] if origin is Annotated else args:
            yield from _unwrap(arg)
    else:
        yield annotation


def _model_in(annotation: object) -> type[BaseModel] | None:
    models = [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def _literal_values(field: FieldInfo | None) -> tuple[str, ...]:
    if field is None:
        return ()
    found = [t for t in _unwrap(field.annotation) if get_origin(t) is Literal]
    return tuple(str(v) for t in found for v in get_args(t))


def _hint(field: FieldInfo | None) -> str:
    values = _literal_values(field)
    if values:
        return "one of " + ", ".join(values)
    return (field.description if field is not None else None) or "see the vendor contract"


def _unknown_field(name: str, loc: Loc, schema: _Schema) -> str:
    if len(loc) == 1 and name in _NOT_FOR_AUTHORS and name not in schema.root.model_fields:
        return _NOT_FOR_AUTHORS[name]
    model = schema.model_at(loc[:-1])
    allowed = tuple(_fields(model)) if model is not None else ()
    guess = suggest(name, allowed)
    if guess is not None:
        return f"unknown field {shown(name)}; did you mean {guess!r}?"
    return f"unknown field {shown(name)}" + (f"; allowed: {', '.join(allowed)}" if allowed else "")


def _too_long(error: ErrorDetails, _: _Schema) -> str:
    ctx, value = error.get("ctx", {}), error["input"]
    if isinstance(value, str):
        return f"longer than {ctx.get('max_length')} characters ({vendor_length(value)})"
    return f"more than {ctx.get('max_length')} items ({ctx.get('actual_length')})"


def _not_allowed(error: ErrorDetails, schema: _Schema) -> str:
    allowed = ", ".join(_literal_values(schema.field_at(error["loc"])))
    value = error["input"]
    what = shown(value) if isinstance(value, str) else describe(value)
    return f"{what} is not allowed; use one of {allowed}"


_Describe = Callable[[ErrorDetails, _Schema], str]
_MESSAGES: Final[Mapping[str, _Describe]] = MappingProxyType(
    {
        "missing": lambda e, schema: f"required; {_hint(schema.field_at(e['loc']))}",
        "extra_forbidden": lambda e, schema: _unknown_field(str(e["loc"][-1]), e["loc"], schema),
        "literal_error": _not_allowed,
        "too_long": _too_long,
        "string_too_long": _too_long,
        "too_short": lambda e, _: f"needs at least {e.get('ctx', {}).get('min_length')} item(s)",
        "greater_than_equal": lambda e, _: (
            f"must be at least {e.get('ctx', {}).get('ge')}, not {describe(e['input'])}"
        ),
        "less_than_equal": lambda e, _: (
            f"must be at most {e.get('ctx', {}).get('le')}, not {describe(e['input'])}"
        ),
    }
)


def _message(error: ErrorDetails, schema: _Schema) -> str:
    kind = error["type"]
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, not {describe(error['input'])}"
    describer = _MESSAGES.get(kind)
    return describer(error, schema) if describer is not None else error["msg"]


def _violation(error: ErrorDetails, schema: _Schema) -> Violation:
    if error["type"] == VENDOR_ERROR_TYPE:
        return Violation(error["loc"], error["msg"], ResultCode(error.get("ctx", {})["code"]))
    return Violation(error["loc"], _message(error, schema), ResultCode.PARAM_ILLEGAL)


def violations_of(
    error: ValidationError,
    root: type[BaseModel],
    dynamic: Mapping[str, type[BaseModel]] | None = None,
) -> list[Violation]:
    """Each error of `root`'s validation as a Violation with a message saying what is allowed.

    `dynamic` names the model behind top-level fields whose type depends on other fields (the
    dataInfo of a PASS, ...), for "did you mean" on unknown fields inside them.
    """
    schema = _Schema(root, dynamic or {})
    return [_violation(e, schema) for e in error.errors(include_url=False)]


def field_hint(model: type[BaseModel], name: str) -> str:
    """What a field of `model` allows: its enum values, else its description."""
    return _hint(_fields(model).get(name))
