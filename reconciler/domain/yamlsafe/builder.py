"""Parser events to plain data in one pass, recording where each value starts.

Anchors, aliases, merge keys and tags are refused here, at the event, instead of interpreted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamStartEvent,
)

from reconciler.domain.problems import FieldPath
from reconciler.domain.yamlsafe.document import PlainData, StringWhere, Where
from reconciler.domain.yamlsafe.errors import Refused, too_deep
from reconciler.domain.yamlsafe.scalars import resolve_plain

_ALIAS: Final = (
    "anchors and aliases are not allowed; repeat the value or use a shared variable in vars.yaml"
)
_MERGE: Final = (
    "merge keys (<<) are not allowed; write the keys out, or use a shared variable in vars.yaml"
)
_COMPLEX_KEY: Final = "a list or mapping cannot be a mapping key; keys must be text"
_SEVERAL_DOCUMENTS: Final = (
    "more than one YAML document in the file; keep one per file and remove this '---' line"
)
_CORE_TAG: Final = "tag:yaml.org,2002:"

_Frame: TypeAlias = tuple[dict[str, PlainData] | None, list[PlainData] | None, FieldPath]


def _where(event: Event) -> Where:
    mark = event.start_mark
    if mark is None:  # pragma: no cover - both parsers always set marks
        return 1, 1
    return mark.line + 1, mark.column + 1


class TreeBuilder:
    """Builds plain data in one pass over parser events, recording where each value starts.

    The open collection is `mapping` or `sequence` (both None at the document level) and `stack`
    holds the enclosing ones. In a mapping, `key` is None while a key is expected.
    """

    __slots__ = (
        "brace",
        "event",
        "key",
        "key_path",
        "mapping",
        "max_depth",
        "max_nodes",
        "nodes",
        "positions",
        "prefix",
        "root",
        "sequence",
        "stack",
        "strings",
    )

    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0
        self.mapping: dict[str, PlainData] | None = None
        self.sequence: list[PlainData] | None = None
        self.prefix: FieldPath = ()
        self.key: str | None = None
        self.key_path: FieldPath = ()
        self.stack: list[_Frame] = []
        self.root: PlainData = None
        self.positions: dict[FieldPath, Where] = {}
        self.strings: dict[FieldPath, StringWhere] = {}
        self.event: Event | None = None  # the event being handled, to locate errors
        self.brace: Where | None = None  # where the last flow mapping opened

    def build(self, next_event: Callable[[], Event | None]) -> PlainData:
        """Consume events to the end of the stream; a refusal is located at the last event."""
        try:
            return self.consume(next_event)
        except Refused as refused:
            event = self.event
            if event is not None:
                refused.where = _where(event)
                refused.field = self.field_at(event)
            raise

    def consume(self, next_event: Callable[[], Event | None]) -> PlainData:
        documents = 0
        while True:
            self.event = event = next_event()
            mapping = self.mapping
            if (
                event.__class__ is ScalarEvent  # most events: keys and values of mappings
                and mapping is not None
                and event.anchor is None
                and event.tag is None
                and self.nodes < self.max_nodes
            ):
                self.in_mapping(event, mapping)  # `scalar` for the common case, in fewer steps
            elif isinstance(event, ScalarEvent):
                self.scalar(event)
            elif isinstance(event, CollectionEndEvent):
                self.mapping, self.sequence, self.prefix = self.stack.pop()
            elif isinstance(event, MappingStartEvent):
                self.start(event, {}, None)
            elif isinstance(event, SequenceStartEvent):
                self.start(event, None, [])
            elif isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise Refused(_SEVERAL_DOCUMENTS)
            elif isinstance(event, AliasEvent):
                raise Refused(_ALIAS)
            elif not isinstance(event, StreamStartEvent | DocumentEndEvent):
                return self.root  # the end of the stream

    def in_mapping(self, event: ScalarEvent, mapping: dict[str, PlainData]) -> None:
        """`scalar` for a key or value of a mapping, neither anchored nor tagged."""
        self.nodes += 1
        style = event.style or None  # libyaml says "" for plain, PyYAML says None
        value = event.value if style else resolve_plain(event.value)
        key = self.key
        if key is not None:
            mapping[key] = value
            self.key = None
            if value.__class__ is str:
                line, column = _where(event)
                self.strings[self.key_path] = (line, column, style)
        elif value.__class__ is str and value not in mapping and (style or value != "<<"):
            path = (*self.prefix, value)
            self.positions[path] = _where(event)
            self.key = value
            self.key_path = path
        else:
            self.take_key(event, value, mapping)  # refuses it

    def scalar(self, event: ScalarEvent) -> None:
        self.count(event)
        style = event.style or None  # libyaml says "" for plain, PyYAML says None
        value = event.value if style else resolve_plain(event.value)
        mapping = self.mapping
        if mapping is None:
            path = self.place(event, value)
        elif self.key is None:
            self.take_key(event, value, mapping)
            return
        else:
            mapping[self.key] = value
            self.key = None
            path = self.key_path
        if value.__class__ is str:
            mark = _where(event)
            self.strings[path] = (mark[0], mark[1], style)

    def start(
        self,
        event: CollectionStartEvent,
        mapping: dict[str, PlainData] | None,
        sequence: list[PlainData] | None,
    ) -> None:
        self.count(event)
        if len(self.stack) >= self.max_depth:
            raise Refused(too_deep(self.max_depth))
        collection = mapping if mapping is not None else sequence
        if self.mapping is None:
            path = self.place(event, collection)
        elif self.key is None:
            raise Refused(_COMPLEX_KEY + self.template_hint(event))
        else:
            self.mapping[self.key] = collection
            self.key = None
            path = self.key_path
        self.stack.append((self.mapping, self.sequence, self.prefix))
        self.mapping, self.sequence, self.prefix = mapping, sequence, path
        if event.flow_style and mapping is not None:
            self.brace = _where(event)

    def template_hint(self, event: CollectionStartEvent) -> str:
        # `name: {{ price }}` reads as a flow mapping whose key is another flow mapping.
        line, column = _where(event)
        if event.flow_style and self.brace == (line, column - 1):
            return '; a value that starts with {{ must be quoted: "{{ ... }}"'
        return ""

    def count(self, event: ScalarEvent | CollectionStartEvent) -> None:
        if event.anchor is not None:
            raise Refused(_ALIAS)
        if event.tag is not None:
            raise Refused(_tag_refusal(event.tag))
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise Refused(f"more than {self.max_nodes:,} YAML nodes; split the file")

    def place(self, event: NodeEvent, value: PlainData) -> FieldPath:
        """Append to the open sequence, or make the document's root; record where it starts."""
        sequence = self.sequence
        if sequence is None:
            path: FieldPath = ()
            self.root = value
        else:
            path = (*self.prefix, len(sequence))
            sequence.append(value)
        self.positions[path] = _where(event)
        return path

    def take_key(self, event: ScalarEvent, key: PlainData, mapping: dict[str, PlainData]) -> None:
        if not isinstance(key, str):
            raise Refused(_key_refusal(event.value, key))
        if key == "<<" and not event.style:
            raise Refused(_MERGE)
        path = (*self.prefix, key)
        if key in mapping:
            raise Refused(
                f"duplicate key {key!r} (first defined on line {self.positions[path][0]}); "
                "remove one of them or merge their contents"
            )
        self.positions[path] = _where(event)
        self.key = key
        self.key_path = path

    def field_at(self, event: Event) -> FieldPath:
        """The path of the value being read when `event` arrived, for messages."""
        if self.mapping is not None:
            if self.key is not None:
                return self.key_path
            return (*self.prefix, event.value) if isinstance(event, ScalarEvent) else self.prefix
        if self.sequence is not None:
            return (*self.prefix, len(self.sequence))
        return ()


def _tag_refusal(tag: str) -> str:
    shown = f"!!{tag[len(_CORE_TAG) :]}" if tag.startswith(_CORE_TAG) else tag
    return (
        f"tags are not allowed (found {shown}); remove it: values are plain text, numbers, "
        "true/false, lists and mappings"
    )


def _key_refusal(text: str, key: PlainData) -> str:
    if not text:
        return "empty key, read as null; write a name before the ':'"
    kind = "null" if key is None else "a boolean" if isinstance(key, bool) else "a number"
    return f"the key {text} is read as {kind}, not text; quote it ('{text}') if it is a name"
