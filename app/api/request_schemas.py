"""Request and response schemas apart where they differ: what a client may leave out, and what it always gets.

One pydantic model serves both ways: `Highlight.score` may be left out of a request (it defaults to 0.5), and
is always in the job the server answers with. Generators read a `default` as "always present" (openapi-typescript
with its default options makes such a property required), which is true of an answer and false of a request.
So a schema reachable from both keeps its name for requests, where a property with a default carries it in its
description instead of a `default` keyword, and gets a `<Name>Read` copy for answers and webhooks, where each
such property is required and keeps its `default`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

_PREFIX = "#/components/schemas/"
READ_SUFFIX = "Read"


def split_request_schemas(spec: dict[str, Any]) -> None:
    """Rewrite `spec` in place: request schemas without defaults, `<Name>Read` copies for what the server sends."""
    schemas: dict[str, Any] = spec["components"]["schemas"]
    operations = [op for path in spec.get("paths", {}).values() for op in path.values()]
    hooks = [op for path in spec.get("webhooks", {}).values() for op in path.values()]
    requests = _reachable(schemas, [op.get("requestBody") for op in operations])
    # A webhook's body is what the server sends: an answer, for the schemas' purpose.
    answers = _reachable(schemas, [op.get("responses") for op in operations] + [op.get("requestBody") for op in hooks])
    split = _to_split(schemas, requests & answers)
    renamed = {name: name + READ_SUFFIX for name in split}
    for name in sorted(split):
        read = copy.deepcopy(schemas[name])
        read["title"] = renamed[name]
        defaulted = [key for key, prop in read.get("properties", {}).items() if "default" in prop]
        read["required"] = [*read.get("required", []), *(k for k in defaulted if k not in read.get("required", []))]
        schemas[renamed[name]] = read
    spec["components"]["schemas"] = dict(sorted(schemas.items()))  # as FastAPI orders them
    for name in answers - requests:
        _point(schemas[name], renamed)
    for name in split:
        _point(schemas[renamed[name]], renamed)
    for op in operations:
        _point(op.get("responses"), renamed)
    for op in hooks:
        _point(op.get("requestBody"), renamed)
    for name in requests:
        for prop in schemas[name].get("properties", {}).values():
            if "default" in prop:
                default = prop.pop("default")
                shown = default if isinstance(default, str) else json.dumps(default)
                prop["description"] = f"{prop.get('description', '').rstrip('.')} (default `{shown}`)".lstrip()


def _to_split(schemas: dict[str, Any], shared: set[str]) -> set[str]:
    """The shared schemas whose two sides differ: those with a default, and those that refer to one of them."""
    split = {name for name in shared if any("default" in p for p in schemas[name].get("properties", {}).values())}
    while more := {name for name in shared - split if _refs(schemas[name]) & split}:
        split |= more
    return split


def _reachable(schemas: dict[str, Any], roots: Iterable[Any]) -> set[str]:
    seen: set[str] = set()
    todo = [name for root in roots for name in _refs(root)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(schemas[name]))
    return seen


def _refs(node: Any) -> set[str]:
    return {ref.removeprefix(_PREFIX) for ref in _walk(node) if ref.startswith(_PREFIX)}


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(ref := node.get("$ref"), str):
            yield ref
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _point(node: Any, renamed: dict[str, str]) -> None:
    """Each $ref in `node` to a split schema now names its `Read` copy."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix(_PREFIX) in renamed:
            node["$ref"] = _PREFIX + renamed[ref.removeprefix(_PREFIX)]
        for value in node.values():
            _point(value, renamed)
    elif isinstance(node, list):
        for value in node:
            _point(value, renamed)
