"""Reading hand-written YAML (rigs, styles) into checked values, with errors on lines.

Rigs and styles are files musicians write by hand, so every mistake must say where it
is and what would have been right. The pieces here are shared by ``live.rig`` and
``live.styles``: value checks that raise :class:`Bad` with a message lacking only its
location, and :class:`Doc`, which reads YAML nodes (not plain Python values, which
have lost their line numbers) and turns a ``Bad`` into the caller's error class with
``FILE:LINE`` in front::

    rigs/duo.yaml:14 band.bass.channel must be 1..16, got 17

Threading model: control thread only (files, allocation); nothing here runs while the
band plays.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable, NoReturn

import yaml

from live.errors import SidemanError

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"

Entries = dict[Any, tuple[yaml.Node, yaml.Node]]  # key -> (key node, value node)


# --- value checks: each returns the checked value or raises Bad without a location


class Bad(Exception):
    """A value failed a check; the message lacks only its location."""


def shown(v: Any) -> str:
    """A value as the user wrote it, for 'got ...' in messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list" if v else "an empty list"
    return str(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _or_null(null_ok: bool) -> str:
    return " or null" if null_ok else ""


def check_int(v: Any, field: str, lo: int, hi: int, *, null_ok: bool = False) -> int | None:
    if v is None and null_ok:
        return None
    if not is_int(v):
        raise Bad(f"{field} must be a whole number {lo}..{hi}{_or_null(null_ok)}, got {shown(v)}")
    if not lo <= v <= hi:
        raise Bad(f"{field} must be {lo}..{hi}, got {v}")
    return v


def check_num(v: Any, field: str, lo: float, hi: float) -> float:
    if not (is_int(v) or isinstance(v, float)):
        raise Bad(f"{field} must be a number {lo}..{hi}, got {shown(v)}")
    if not lo <= v <= hi:  # also rejects .nan
        raise Bad(f"{field} must be {lo}..{hi}, got {shown(v)}")
    return float(v)


def check_bool(v: Any, field: str) -> bool:
    if not isinstance(v, bool):
        raise Bad(f"{field} must be true or false, got {shown(v)}")
    return v


def check_choice(v: Any, field: str, allowed: tuple[Any, ...]) -> Any:
    # type() guard: 48000.0 or True must not pass for an int choice.
    if type(v) is not type(allowed[0]) or v not in allowed:
        close = difflib.get_close_matches(v, allowed, n=1) if isinstance(v, str) and isinstance(allowed[0], str) \
            else []
        hint = f"; did you mean {close[0]!r}?" if close and close[0] != v else ""
        raise Bad(f"{field} must be one of {', '.join(map(str, allowed))}, got {shown(v)}{hint}")
    return v


def check_str(v: Any, field: str, *, null_ok: bool = False) -> str | None:
    if v is None and null_ok:
        return None
    if not isinstance(v, str) or not v.strip():
        raise Bad(f"{field} must be a non-empty string{_or_null(null_ok)}, got {shown(v)}")
    return v


# --- reading YAML nodes


class Doc:
    """One document being read: builds values from nodes and places errors on lines.

    ``error`` is the :class:`SidemanError` subclass raised (``RigError``, ``StyleError``).
    """

    def __init__(self, label: str, root: yaml.Node, error: type[SidemanError]) -> None:
        self.label = label
        self.root = root
        self.error = error
        self.nodes: dict[str, yaml.Node] = {}  # dotted field -> the node it was read from
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, message: str) -> NoReturn:
        mark = node.start_mark if node is not None else None
        where = f"{self.label}:{mark.line + 1}" if mark is not None else self.label
        raise self.error(f"{where} {message}")

    def locate(self, field: str) -> yaml.Node:
        """The node a field was read from, else its nearest enclosing section's."""
        while field:
            if field in self.nodes:
                return self.nodes[field]
            field = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", field)
        return self.root

    def value(self, node: yaml.Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            self.fail(node, f"cannot read value: {getattr(e, 'problem', None) or e}")

    def check(self, node: yaml.Node, field: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        self.nodes[field] = node
        try:
            return fn(self.value(node), field, *args, **kw)
        except Bad as e:
            self.fail(node, str(e))

    def get(self, entries: Entries, prefix: str, key: str, default: Any,
            fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if key not in entries:
            return default
        return self.check(entries[key][1], f"{prefix}.{key}" if prefix else key, fn, *args, **kw)

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG

    def mapping(self, node: yaml.Node, field: str, allowed: tuple[str, ...] | None) -> Entries:
        """Entries of a mapping node (null reads as empty); ``allowed=None`` takes any key."""
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            what = f"a mapping of {', '.join(allowed)}" if allowed else "a mapping"
            self.fail(node, f"{field} must be {what}, got {shown(self.value(node))}")
        entries: Entries = {}
        for knode, vnode in node.value:
            if knode.tag == MERGE_TAG:
                self.fail(knode, f"YAML merge keys (<<) are not supported in {field}")
            key = self.value(knode)
            if allowed is not None and (not isinstance(key, str) or key not in allowed):
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(knode, f"unknown key {shown(key)} in {field} (allowed: {', '.join(allowed)}){hint}")
            if isinstance(key, (str, int)) and key in entries:
                first = entries[key][0].start_mark
                at = f" (first on line {first.line + 1})" if first is not None else ""
                self.fail(knode, f"{field} has key {key!r} twice{at}")
            entries[key] = (knode, vnode)
        return entries

    def section(self, top: Entries, key: str, allowed: tuple[str, ...]) -> Entries:
        if key not in top:
            return {}
        knode, vnode = top[key]
        self.nodes[key] = knode
        return self.mapping(vnode, key, allowed)


def yaml_error(label: str, text: str, e: yaml.YAMLError, error: type[SidemanError]) -> SidemanError:
    """A YAML syntax error as ``error``, placed on its line."""
    if isinstance(e, yaml.MarkedYAMLError) and (e.problem_mark or e.context_mark):
        mark = e.problem_mark or e.context_mark
        message = e.problem or e.context or "invalid YAML"
        if e.context and e.problem and e.context_mark is not None and e.context_mark.line != mark.line:
            message += f" ({e.context} started on line {e.context_mark.line + 1})"
        elif e.context and e.problem:
            message += f" ({e.context})"
        return error(f"{label}:{mark.line + 1} YAML syntax error: {message}")
    if isinstance(e, yaml.reader.ReaderError):
        line = text[: e.position].count("\n") + 1
        return error(f"{label}:{line} YAML syntax error: character {chr(e.character)!r} "
                     f"(#x{e.character:04x}) is not allowed")
    return error(f"{label} YAML syntax error: {e}")


def parse_node(text: str, label: str, error: type[SidemanError]) -> yaml.Node | None:
    """The document's root node (None for an empty document), syntax errors as ``error``."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise yaml_error(label, text, e, error) from e
