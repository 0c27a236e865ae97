"""Located problems: one line each, `path:line:col: field.path: message [VENDOR_CODE]`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import InvalidInput

FieldPath = tuple[str | int, ...]


def format_field_path(path: FieldPath) -> str:
    """`('localeInfo', 'en_US', 'name')` -> `localeInfo.en_US.name`; list items as `[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, with where it is and the vendor code it would cause."""

    file: str
    line: int
    column: int
    field: str
    message: str
    code: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field = f" {self.field}:" if self.field else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}:{field} {self.message}{code}"


class ProblemsFound(InvalidInput):
    """Several located problems, reported together."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems))
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            "\n".join(str(p) for p in self.problems) + f"\n{count} {noun} found",
            hint="fix each line above; `ipass validate` checks everything again",
        )
