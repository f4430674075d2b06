"""YAML front matter read so that text fields keep the text that was written.

YAML 1.1 (PyYAML) types plain scalars: ``title: 1917`` is a number, ``tags:
[no, on]`` are booleans, ``id: 0042`` is the octal number 34, ``title:
2024-05-01`` is a date. For the fields that hold text the file's own text is
what counts, so the front matter is composed into nodes (which keep each
scalar's text and position) and only the other fields are constructed as YAML
values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

TEXT_FIELDS = frozenset({"id", "title", "summary", "author", "url", "image"})
"""Fields whose value is the scalar's text exactly as written (quotes keep
their YAML meaning: ``'1917'`` is ``1917``, ``"a\\tb"`` holds a tab)."""

OPTIONAL_FIELDS = frozenset({"image"})
"""Text fields that are optional extras: a value that is not text is left out
(:attr:`FrontMatter.left_out`), and the article kept."""

LABEL_FIELDS = frozenset({"tags", "categories"})
"""Fields holding one text or a list of texts, each kept as written."""

_KIND = {ScalarNode: "a single value", SequenceNode: "a list", MappingNode: "a mapping"}


@dataclass(frozen=True)
class Problem:
    """A field that cannot be read: where (1-based line in the file), which, why."""

    line: int
    field: str | None
    reason: str


@dataclass
class FrontMatter:
    """The fields of one front matter block, with the line each starts on."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    left_out: list[Problem] = field(default_factory=list)
    """Values of :data:`OPTIONAL_FIELDS` that cannot be read: not in ``values``,
    and no reason to reject the article."""


def parse_front_matter(text: str, first_line: int) -> FrontMatter:
    """Read the YAML between the ``---`` lines.

    Args:
        text: the front matter, without its ``---`` lines.
        first_line: the file's line number of the first line of ``text``.

    Returns:
        The values (text fields as written; an empty plain value, as in
        ``summary:``, means the field is not given), the line of each field,
        the problems, and the optional values left out; values of fields with a
        problem are left out.

    Raises:
        yaml.YAMLError: the text is not YAML.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        result = FrontMatter()
        if root is None:
            return result
        if not isinstance(root, MappingNode):
            result.problems.append(
                Problem(first_line, None, "front matter must be a mapping of field: value")
            )
            return result
        loader.flatten_mapping(root)  # YAML merge keys ("<<: *defaults")
        for key, value in root.value:
            line = first_line + key.start_mark.line
            if not isinstance(key, ScalarNode):
                result.problems.append(Problem(line, None, "a field name must be plain text"))
                continue
            name = key.value
            result.lines[name] = line
            _read_field(loader, name, value, line, first_line, result)
        return result
    finally:
        loader.dispose()


def _read_field(
    loader: yaml.SafeLoader,
    name: str,
    node: Node,
    line: int,
    first_line: int,
    result: FrontMatter,
) -> None:
    """Read one field's value into ``result`` (``line``: the field's own line)."""
    if name in TEXT_FIELDS or name in LABEL_FIELDS:
        if _not_given(node):
            return
        if isinstance(node, ScalarNode):
            result.values[name] = node.value
            return
        if name in TEXT_FIELDS or not isinstance(node, SequenceNode):
            wanted = "text" if name in TEXT_FIELDS else "text or a list of texts"
            problem = Problem(line, name, f"expected {wanted}, found {_kind(node)}")
            (result.left_out if name in OPTIONAL_FIELDS else result.problems).append(problem)
            return
        items = []
        for index, item in enumerate(node.value):
            if not isinstance(item, ScalarNode):
                item_line = first_line + item.start_mark.line
                reason = f"expected text, found {_kind(item)}"
                result.problems.append(Problem(item_line, f"{name}[{index}]", reason))
                continue
            items.append(item.value)
        if len(items) == len(node.value):
            result.values[name] = items
        return
    try:
        result.values[name] = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:
        # PyYAML raises ValueError for a timestamp-shaped scalar that is no date
        # (published: 2024-13-45).
        reason = getattr(exc, "problem", None) or str(exc)
        result.problems.append(Problem(line, name, f"cannot read {_text(node)}: {reason}"))


def _not_given(node: Node) -> bool:
    # "summary:" with nothing after it; a quoted "" is an explicit empty text.
    return isinstance(node, ScalarNode) and node.value == "" and node.style is None


def _kind(node: Node) -> str:
    return _KIND.get(type(node), "a value")


def _text(node: Node) -> str:
    return repr(node.value) if isinstance(node, ScalarNode) else _kind(node)
