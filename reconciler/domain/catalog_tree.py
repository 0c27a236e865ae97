"""Where a catalog value's templated strings are, so rendering an entry visits only them.

An entry is its file's fields rendered over the catalog defaults, once per entry (and a file
with `for_each` has several). Most of a tree is plain data: codes, numbers, lists of categories.
`shape_of` marks, once per parsed file, the strings that need rendering and the mappings and
lists that hold one; rendering copies only those containers and takes everything else as it is
(the same objects as the parsed file: nothing downstream changes them).
"""

from __future__ import annotations

from typing import Final, TypeAlias

from reconciler.domain.templating import PlainData, needs_rendering

# A templated string; a container holding one maps the keys or indexes of its templated
# children to their shapes; None: nothing inside needs rendering.
TEMPLATED: Final = True
Shape: TypeAlias = "bool | dict[str | int, Shape] | None"


def shape_of(value: PlainData) -> Shape:
    """What in `value` needs rendering (None: nothing)."""
    if isinstance(value, str):
        return TEMPLATED if needs_rendering(value) else None
    children: dict[str | int, Shape] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            found = shape_of(child)
            if found is not None:
                children[key] = found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found = shape_of(child)
            if found is not None:
                children[index] = found
    return children or None
