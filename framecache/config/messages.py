"""What a params error says: the key path, the value as written and what is allowed — in one line.

pydantic finds the problems; this module turns its first one into the project's message, e.g.
``params: extract.num_frames = 0 is not allowed: expected an integer >= 1`` or
``params: unknown key 'extract.num_frame' (did you mean 'extract.num_frames'?); known keys here: ...``.
:func:`describe` writes the "allowed" part from a field's type and constraints; the README reference uses it
too, so the documentation and the errors cannot disagree.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from framecache.errors import FramecacheError, did_you_mean

_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping"}
# pydantic error types meaning "this should have been a mapping"
_NOT_A_MAPPING = {"model_type", "model_attributes_type", "dict_type"}


class ParamsError(FramecacheError):
    """A params.yaml problem; the message names the key, the value and what is allowed."""


def _unwrap(annotation: Any, metadata: Sequence[Any] = ()) -> tuple[Any, list[Any], bool]:
    """``(bare type, constraints, nullable)`` of an annotation: strips ``Annotated`` and ``| None``."""
    metadata, nullable = list(metadata), False
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation, *extra = typing.get_args(annotation)
            # a pydantic Field() inside Annotated carries its constraints in its own metadata
            metadata += [c for m in extra for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
            annotation
        ):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = True
            annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007 - built at runtime
        else:
            return annotation, metadata, nullable


def _bound(metadata: list[Any], kind: type) -> str | None:
    if kind not in (int, float):
        return None
    parts = []
    for m in metadata:
        if isinstance(m, at.Gt):
            parts.append(f"> {m.gt:g}")
        elif isinstance(m, at.Ge):
            parts.append(f">= {m.ge:g}")
    parts += [f"<= {m.le:g}" for m in metadata if isinstance(m, at.Le)]
    return " and ".join(parts) or None


def _length(metadata: list[Any]) -> str:
    low = next((m.min_length for m in metadata if isinstance(m, at.MinLen)), None)
    high = next((m.max_length for m in metadata if isinstance(m, at.MaxLen)), None)
    if low is not None and low == high:
        return f" with exactly {low} items"
    if low:
        return f" with at least {low} item{'s' if low > 1 else ''}"
    return ""


def describe(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a field allows, in words: ``an integer >= 1``, ``one of 'keep', 'repeat'``, ``a list of a string``."""
    kind, constraints, nullable = _unwrap(annotation, metadata)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):  # e.g. ``'auto' or an integer >= 1``
        allowed = " or ".join(describe(member) for member in typing.get_args(kind))
    elif origin is Literal:
        values = typing.get_args(kind)
        allowed = repr(values[0]) if len(values) == 1 else "one of " + ", ".join(repr(c) for c in values)
    elif origin is list:
        (item,) = typing.get_args(kind) or (None,)
        allowed = "a list" + (f" of {describe(item)}" if item is not None else "") + _length(constraints)
    else:
        allowed = _KINDS.get(origin or kind, getattr(kind, "__name__", str(kind)))
        bounds = _bound(constraints, kind)
        if bounds:
            allowed += f" {bounds}"
    return allowed + (" (or null)" if nullable else "")


def _tagged_member(union: Any, tag: Any) -> Any:
    """The member of a union of models whose ``type`` literal is ``tag`` (None when none is)."""
    for member in typing.get_args(union):
        field = getattr(member, "model_fields", {}).get("type")
        if field is not None and tag in typing.get_args(field.annotation):
            return member
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _locate(model: type[BaseModel], loc: Sequence[Any]) -> tuple[list[Any], Any, list[Any]]:
    """Walk pydantic's error location through the models: ``(key parts as the user wrote them, annotation,
    constraints)`` of the place it names. A discriminated union's tag is part of pydantic's location but not of
    the user's key, so it is dropped."""
    path: list[Any] = []
    annotation: Any = model
    metadata: list[Any] = []
    for part in loc:
        bare = _unwrap(annotation)[0]
        origin = typing.get_origin(bare)
        if _is_model(bare) and part in bare.model_fields:
            field = bare.model_fields[part]
            annotation, metadata = field.annotation, list(field.metadata)
        elif origin is list and isinstance(part, int):
            annotation, metadata = typing.get_args(bare)[0], []
        elif origin is dict:
            annotation, metadata = typing.get_args(bare)[1], []
        elif origin in (typing.Union, types.UnionType) and _tagged_member(bare, part) is not None:
            annotation, metadata = _tagged_member(bare, part), []
            continue  # the tag is pydantic's, not the user's
        elif origin in (typing.Union, types.UnionType) and isinstance(part, str):
            continue  # pydantic's label of the union member it tried (``literal['auto']``): the union is the place
        else:
            annotation, metadata = None, []
        path.append(part)
    return path, annotation, metadata


def dotted(parts: Sequence[Any]) -> str:
    """``['report', 'class_pairs', 0]`` → ``report.class_pairs[0]``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _raw(data: Any, path: Sequence[Any]) -> Any:
    # errors quote what the user wrote (``0``), not what validation made of it (``0.0``)
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _message(model: type[BaseModel], error: Mapping[str, Any], data: Any, where: Sequence[str]) -> str:
    path, annotation, metadata = _locate(model, error["loc"])
    key = dotted([*where, *path])
    value = _raw(data, path) if path else data
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _unwrap(_locate(model, error["loc"][:-1])[1])[0]
        known = [k for k in getattr(parent, "model_fields", {}) if k != "type"]
        parent_key = dotted([*where, *path[:-1]])
        hint = did_you_mean(key, [f"{parent_key}.{k}" if parent_key else k for k in known])
        return f"params: unknown key {key!r}{hint}; known keys here: {', '.join(sorted(known)) or '(none)'}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = sorted(
            t
            for m in typing.get_args(_unwrap(annotation)[0])
            for t in typing.get_args(m.model_fields["type"].annotation)
        )
        tag = value.get("type") if isinstance(value, Mapping) else None
        return (
            f"params: {key}.type = {tag!r} is not a head type{did_you_mean(tag, tags)}; valid types: {', '.join(tags)}"
        )
    if kind in _NOT_A_MAPPING:
        bare = _unwrap(annotation)[0]
        if typing.get_origin(bare) is dict:
            return f"params: {key} must be a mapping of names to settings, got {value!r}"
        if typing.get_origin(bare) in (typing.Union, types.UnionType):
            return f"params: {key} must be a mapping with a 'type' key, got {value!r}"
        return f"params: {key or 'the top level'} must be a mapping of keys to values, got {value!r}"
    if kind == "missing":
        return f"params: missing required key {key!r} ({describe(annotation, metadata)})"
    return f"params: {key} = {value!r} is not allowed: expected {describe(annotation, metadata)}"


def validate_model(model: type[BaseModel], data: Any, where: Sequence[str] = ()) -> BaseModel:
    """``model`` validated from ``data``, or a :class:`ParamsError` naming the first problem.

    ``where`` is the key path of ``data`` inside params.yaml, for the message. An unknown key is reported
    before a bad value: it is usually the cause (a misspelt key leaves the real one at its default).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        raise ParamsError(_message(model, errors[0], data, where)) from None
