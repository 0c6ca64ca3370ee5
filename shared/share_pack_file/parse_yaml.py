"""Read a YAML share pack fast, and refuse YAML that would hurt us instead of parsing it.

Speed: the libyaml-based parser of ruamel.yaml.clib composes the node tree and the safe constructor builds
plain dicts and lists from it. The node tree already carries line and column marks, so it is kept as the
`YamlLocator` and nothing is parsed twice when issues need locating. ruamel's stock resolver looks up the YAML
version on every scalar, which costs more than the parse itself; `_CoreResolver` fixes the YAML 1.2 core
schema instead (no timestamps, no `=` value tag: such scalars stay text).

Safety: only the safe constructor runs, so tags that would build objects (`!!python/...`) are errors, never
executed; the nesting depth and the number of values are bounded before anything is composed: the composer of
ruamel.yaml.clib recurses in C and crashes the process on ~100,000 levels, and a few MB of `[0,0,0,...]` would
compose into millions of node objects (36 s and 1.3 GB for 8 MB). A text that could exceed either bound (more
opening brackets than `MAX_FLOW_DEPTH`, or more value separators than `MAX_VALUES`) has its parse events
counted first: libyaml's parser keeps its state on the heap, so the count is iterative and stops at the first
value over a bound, wherever the closing brackets hide (in quotes, in comments). The composed tree is checked
for alias expansion (billion laughs, merge-key bombs, one big scalar referenced thousands of times) and
self-reference before anything is constructed; merge keys (`<<`) nest at most `MAX_MERGE_DEPTH` deep (the
constructor flattens them recursively); numbers are at most `MAX_NUMBER_CHARS` characters (Python refuses to
convert more than 4,300 digits) and keep the text written, so `name: 0x7A69` is the name "0x7A69".
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import BaseConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver, implicit_resolvers
from ruamel.yaml.tag import Tag

from shared.share_pack_file.issues import Findings, Path, echo
from shared.share_pack_file.schema import aliases_of
from shared.share_pack_file.values import WrittenFloat, WrittenInt

# Share packs nest about five levels deep; these bounds are far above that and far below a crash.
MAX_FLOW_DEPTH = 500
MAX_BLOCK_INDENT = 1000
# The design-scale pack (1,000 recipients, 500 shares, 20,000 data objects) has ~67,000 values (YAML nodes);
# this is three times that: what composes, builds and validates in about a second on a quiet machine.
MAX_VALUES = 200_000
# No share pack item has more than a dozen fields; a mapping with more keys is refused before it is built.
MAX_KEYS = 100
# A section (recipient, share, pipelines) of ten times the design scale's 1,000 recipients is refused once
# composed, before its items are built and checked one by one.
MAX_SECTION_ITEMS = 10_000
# Merge keys are for sharing a few defaults; a chain deeper than this is an attack on the recursive flattening.
MAX_MERGE_DEPTH = 20
# The longest number a share pack holds is a few digits (token_expiry_days); 100 is far above it and far below
# Python's 4,300-digit conversion limit (https://docs.python.org/3/library/stdtypes.html#int-max-str-digits).
MAX_NUMBER_CHARS = 100
# Every value but the first follows one of these characters (after spaces, an anchor or a tag), and each of
# them introduces at most two values (a key and what follows it), so twice their count bounds the values.
_VALUE_SEPARATORS = (b"\n", b":", b"-", b",", b"[", b"{", b"?")
# Aliases may make the document at most this many times bigger than the text written (but always up to
# ALIAS_EXPANSION_FLOOR bytes): reusing a recipient list is fine, amplifying one scalar into megabytes is not.
MAX_ALIAS_EXPANSION_RATIO = 10
ALIAS_EXPANSION_FLOOR = 1024 * 1024
# Each value costs at least this much once expanded (its punctuation in JSON), so a tree of empty scalars
# (a billion laughs) is sized by its node count as well.
_NODE_BYTES = 4

_CORE_TAGS = {"bool", "float", "int", "merge", "null"}
_DEEP_BLOCK_PREFIX = re.compile(rf"^[ \t?:-]{{{MAX_BLOCK_INDENT + 1}}}", re.MULTILINE)


def _core_table() -> dict[str, list[tuple[Tag, Any]]]:
    table: dict[str, list[tuple[Tag, Any]]] = {}
    for versions, tag, regexp, first in implicit_resolvers:
        if (1, 2) in versions and tag.rsplit(":", 1)[1] in _CORE_TAGS:
            match = re.compile(regexp.pattern, regexp.flags).match
            for char in first:
                table.setdefault(char, []).append((Tag(suffix=tag), match))
    return table


class _CoreResolver(VersionedResolver):
    """Resolve plain scalars with the YAML 1.2 core schema, without per-scalar version lookups."""

    _table = _core_table()

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if implicit[0]:
                for tag, match in self._table.get(value[:1], ()):
                    if match(value):
                        return tag
            return self.DEFAULT_SCALAR_TAG
        return self.DEFAULT_SEQUENCE_TAG if kind is SequenceNode else self.DEFAULT_MAPPING_TAG


class _Refused(Exception):
    """A node breaks one of the bounds; `message` says which."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class _BoundedConstructor(SafeConstructor):
    """The safe constructor, refusing a mapping with more than `MAX_KEYS` keys (merged ones included) before
    building it (tens of thousands of unknown keys would each be built, validated and reported), merge keys
    nested deeper than `MAX_MERGE_DEPTH`, and numbers longer than `MAX_NUMBER_CHARS`."""

    _merge_depth = 0

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            self.flatten_mapping(node)
            if len(node.value) > MAX_KEYS:
                raise _Refused(node, f"This mapping has {len(node.value):,} keys; share pack items have at most a "
                               f"dozen fields, so more than {MAX_KEYS} is refused.")
        return BaseConstructor.construct_mapping(self, node, deep=deep)

    def flatten_mapping(self, node: Any) -> Any:
        self._merge_depth += 1
        try:
            if self._merge_depth > MAX_MERGE_DEPTH:
                raise _Refused(node, f"Merge keys (<<) nest more than {MAX_MERGE_DEPTH} levels deep here; a share "
                               "pack never needs that. Write the values out instead.")
            return super().flatten_mapping(node)
        finally:
            self._merge_depth -= 1

    def construct_written_int(self, node: Any) -> int:
        number = WrittenInt(super().construct_yaml_int(self._short_number(node)))
        number.written = node.value
        return number

    def construct_written_float(self, node: Any) -> float:
        number = WrittenFloat(super().construct_yaml_float(self._short_number(node)))
        number.written = node.value
        return number

    @staticmethod
    def _short_number(node: Any) -> Any:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _Refused(node, f"This number has {len(node.value):,} characters; share pack numbers have a few "
                           f"digits, so more than {MAX_NUMBER_CHARS} is refused (quote it if it is text).")
        return node


_BoundedConstructor.add_constructor("tag:yaml.org,2002:int", _BoundedConstructor.construct_written_int)
_BoundedConstructor.add_constructor("tag:yaml.org,2002:float", _BoundedConstructor.construct_written_float)


class YamlLocator:
    """Locates paths in the composed node tree: 1-based line and column of a key, item or value.

    Each mapping's keys are indexed the first time an issue is located in it, so locating issues costs the
    same whether a mapping has ten keys or fifty thousand.
    """

    def __init__(self, root: Node | None) -> None:
        self.root = root
        self._keys: dict[int, dict[str, tuple[Node, Node]]] = {}

    def locate(self, path: Path) -> dict[str, Any]:
        """Return the line and column of the key or item at `path` (or of its nearest ancestor)."""
        if not path or self.root is None:
            return {}
        node, mark = self.root, self.root.start_mark
        for segment in path:
            if isinstance(node, MappingNode) and isinstance(segment, str):
                pair = self._find_key(node, segment)
                if pair is None:
                    break
                mark, node = pair[0].start_mark, pair[1]
            elif isinstance(node, SequenceNode) and isinstance(segment, int) and segment < len(node.value):
                node = node.value[segment]
                mark = node.start_mark
            else:
                break
        return {"line": mark.line + 1, "column": mark.column + 1}

    def _find_key(self, node: MappingNode, name: str) -> tuple[Node, Node] | None:
        keys = self._keys.get(id(node))
        if keys is None:
            keys = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    keys.setdefault(key.value, (key, value))
            self._keys[id(node)] = keys
        for candidate in (name, *aliases_of(name)):
            if candidate in keys:
                return keys[candidate]
        return None


def read_yaml(content: bytes, findings: Findings) -> Any | None:
    """Parse YAML bytes into plain Python data; on failure add an error and return None.

    Sets `findings.locator` so later issues get line and column.
    """
    text = _decode(content, findings)
    if text is None:
        return None
    if not text.strip():
        findings.error((), "The file is empty: a share pack needs metadata, recipient and share sections.")
        return None
    if not _indentation_is_sane(text, findings):
        return None
    yaml = YAML(typ="safe")
    yaml.Resolver = _CoreResolver
    try:
        if not _shape_is_bounded(content, text, yaml, findings):
            return None
        root = yaml.compose(text)
        if root is None:
            findings.error((), "The file holds only comments: a share pack needs metadata, recipient and share.")
            return None
        if not _sections_are_sane(root, findings):
            return None
        if "*" in text and not _aliases_are_sane(root, len(content), findings):
            return None
        document = _BoundedConstructor(loader=yaml).construct_document(root)
    except _Refused as exc:
        findings.error((), exc.message, _node_location(exc.node))
        return None
    except MarkedYAMLError as exc:
        findings.error((), _syntax_message(exc), _mark_location(exc))
        return None
    except YAMLError as exc:
        findings.error((), f"The YAML could not be read: {exc}")
        return None
    findings.locator = YamlLocator(root)
    return document


def _decode(content: bytes, findings: Findings) -> str | None:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        findings.error((), "The file is UTF-16 text; save it as UTF-8.")
        return None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        column = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        findings.error(
            (),
            f"The file is not UTF-8 text (byte 0x{content[exc.start]:02x} at line {line}); save it as UTF-8.",
            {"line": line, "column": column},
        )
        return None


def _indentation_is_sane(text: str, findings: Findings) -> bool:
    """Refuse block nesting deeper than any share pack (each block level is indented, or written `- - -`)."""
    if _DEEP_BLOCK_PREFIX.search(text):
        findings.error((), f"The YAML is indented more than {MAX_BLOCK_INDENT} characters deep; a share pack "
                       "never is.")
        return False
    return True


def _shape_is_bounded(content: bytes, text: str, yaml: YAML, findings: Findings) -> bool:
    """Refuse YAML nested deeper than `MAX_FLOW_DEPTH` or holding more than `MAX_VALUES` values, before it is
    composed into node objects.

    Counting characters bounds both at no cost for every real pack: nesting needs an opening bracket per flow
    level, and every value follows a separator. Only a file above a bound has its parse events counted (without
    building nodes), stopping at the first event over it; a section over `MAX_SECTION_ITEMS` stops it too.
    """
    openers = content.count(b"[") + content.count(b"{")
    if openers <= MAX_FLOW_DEPTH and 2 * sum(content.count(sep) for sep in _VALUE_SEPARATORS) + 1 <= MAX_VALUES:
        return True
    count = depth = section_items = 0
    for event in yaml.parse(text):
        if isinstance(event, CollectionEndEvent):
            depth -= 1
            continue
        if not isinstance(event, CollectionStartEvent | ScalarEvent):
            continue
        if depth == 2:  # an item of a top-level list (or a key or value of a top-level mapping)
            section_items += 1
            if section_items > 2 * MAX_SECTION_ITEMS:
                findings.error((), f"A section holds more than {MAX_SECTION_ITEMS:,} items; a share pack holds at "
                               "most that many per section. Split it into several packs.", _event_location(event))
                return False
        elif depth == 1:
            section_items = 0
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                findings.error((), f"The YAML nests more than {MAX_FLOW_DEPTH} levels deep; a share pack never "
                               "does.", _event_location(event))
                return False
        count += 1
        if count > MAX_VALUES:
            findings.error((), f"The YAML holds more than {MAX_VALUES:,} values; a share pack at three times "
                           "the design scale holds fewer. Split it into several packs.", _event_location(event))
            return False
    return True


def _event_location(event: Any) -> dict[str, Any]:
    return {"line": event.start_mark.line + 1, "column": event.start_mark.column + 1}


def _sections_are_sane(root: Node, findings: Findings) -> bool:
    """Refuse a top-level list of more than `MAX_SECTION_ITEMS` items (cheap: one look per section)."""
    if not isinstance(root, MappingNode):
        return True
    for key, value in root.value:
        if isinstance(value, SequenceNode) and len(value.value) > MAX_SECTION_ITEMS:
            name = echo(key.value) if isinstance(key, ScalarNode) else "this section"
            findings.error((), f"'{name}' holds {len(value.value):,} items; a share pack holds at most "
                           f"{MAX_SECTION_ITEMS:,} per section. Split it into several packs.", _node_location(value))
            return False
    return True


def _aliases_are_sane(root: Node, written_bytes: int, findings: Findings) -> bool:
    """Refuse alias bombs and self-referencing aliases by sizing, in bytes, the tree as if aliases were expanded.

    Aliased nodes are shared objects in the composed tree, so sizing each node once (memoised, iterative)
    costs what the written text costs, however large the expansion would be. Bytes, not nodes: one 100 KB
    scalar referenced 3,000 times is few nodes but 300 MB once stored as JSON.
    """
    budget = max(MAX_ALIAS_EXPANSION_RATIO * written_bytes, ALIAS_EXPANSION_FLOOR)
    sizes: dict[int, int] = {}
    counts: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            on_path.discard(key)
            own = len(node.value) if isinstance(node, ScalarNode) else 0
            sizes[key] = _NODE_BYTES + own + sum(sizes[id(child)] for child in children)
            counts[key] = 1 + sum(counts[id(child)] for child in children)
            if counts[key] > MAX_VALUES:
                findings.error((), f"The YAML uses aliases (*name) that would expand it to more than {MAX_VALUES:,} "
                               "values (an alias bomb); it was refused.", _node_location(node))
                return False
            if sizes[key] > budget:
                findings.error((), "The YAML uses aliases (*name) that would expand it to more than "
                               f"{budget:,} bytes, {MAX_ALIAS_EXPANSION_RATIO} times the file (an alias bomb); "
                               "it was refused. Write the values out instead.", _node_location(node))
                return False
            continue
        if key in sizes:
            continue
        if key in on_path:
            findings.error((), "An alias refers to the collection that contains it (a recursive structure); "
                           "share packs cannot be recursive.", _node_location(node))
            return False
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return True


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _syntax_message(exc: MarkedYAMLError) -> str:
    problem = exc.problem or str(exc)
    if problem.startswith("could not determine a constructor for the tag"):
        tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        return (f"The tag {tag} is not allowed: a share pack holds only plain text, numbers, booleans, lists "
                "and mappings.")
    context = f" ({exc.context})" if exc.context else ""
    return f"YAML syntax error: {problem}{context}."


def _mark_location(exc: MarkedYAMLError) -> dict[str, Any]:
    mark = exc.problem_mark or exc.context_mark
    return {"line": mark.line + 1, "column": mark.column + 1} if mark is not None else {}


def _node_location(node: Node) -> dict[str, Any]:
    return {"line": node.start_mark.line + 1, "column": node.start_mark.column + 1}
