"""The response envelope of createTemplate and createPass (1.11, 2.6, 3.4), defined once.

The sandbox builds its answers with these models and the client reads AlipayHK's answers with
them. Reading is as tolerant as AlipayHK needs: fields added later are ignored, `resultInfo` (the
seed pages' name, conflict #1) stands in for `result`, and an operation field of the wrong type
counts as absent (a success without its ID is the reader's problem, not a parse error). What
must hold is a result object whose resultStatus is S, F or U.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from reconciler.domain.contract.codes import MESSAGES, ResultCode, ResultStatus, status_of


def _text(value: object) -> str:
    # A code or message that is not a string is still shown; absent and null are empty.
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


Text = Annotated[str, BeforeValidator(_text)]
TextOrNone = Annotated[str | None, BeforeValidator(_text_or_none)]


class ResponseModel(BaseModel):
    """Responses: frozen, tolerant of fields AlipayHK adds later."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class ResultInfo(ResponseModel):
    """`result`: how the call ended. `resultCode` stays text: AlipayHK may add codes."""

    resultCode: Text = ""
    resultStatus: ResultStatus
    resultMessage: Text = ""

    @classmethod
    def of(cls, code: ResultCode, message: str | None = None) -> ResultInfo:
        """The result AlipayHK gives with `code` (its own message unless one is given)."""
        return cls(
            resultCode=code.value,
            resultStatus=status_of(code),
            resultMessage=MESSAGES[code] if message is None else message,
        )

    @property
    def code(self) -> ResultCode | None:
        """The result code, or None when it is one this model does not know."""
        return ResultCode.known(self.resultCode)


class ResultBody(ResponseModel):
    """Every response: the result, and whatever the operation adds (see the subclasses)."""

    result: ResultInfo

    @model_validator(mode="before")
    @classmethod
    def _result_info(cls, data: object) -> object:
        # Conflict #1: the seed pages say resultInfo, live responses say result. Emit result.
        if isinstance(data, dict) and data.get("result") is None and "resultInfo" in data:
            return {**data, "result": data["resultInfo"]}
        return data

    @classmethod
    def answer(cls, code: ResultCode, message: str | None = None) -> ResultBody:
        """A response that carries only its result (every failure, and U)."""
        return ResultBody(result=ResultInfo.of(code, message))

    def to_json(self) -> bytes:
        """The response as AlipayHK sends it: compact UTF-8 JSON, `result` first, no nulls."""
        return self.model_dump_json(exclude_none=True).encode()


class TemplateCreatedBody(ResultBody):
    """createTemplate (2.6): the new template's code and status (`valid` assumed on create)."""

    templateCode: TextOrNone = None
    status: TextOrNone = None


class PassCreatedBody(ResultBody):
    """createPass (3.4): the new pass's ID."""

    passId: TextOrNone = None
