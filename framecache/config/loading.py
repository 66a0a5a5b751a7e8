"""Reading params.yaml: YAML with YAML 1.2 floats, validation against the models, and the checks that span
sections. Every stage starts with :func:`load_params`; what it returns is plain data (nested mappings, lists,
numbers and strings), fully defaulted, so no consumer sees a pydantic object.

YAML 1.1 (PyYAML) reads ``1e-3`` as the *string* "1e-3" while DVC's YAML 1.2 reader sees a float; the loader
here resolves floats the YAML 1.2 way so both agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from framecache.config.messages import ParamsError, validate_model
from framecache.config.sections import ParamsFile
from framecache.errors import did_you_mean


class _Loader(yaml.SafeLoader):
    pass


# YAML 1.1 wants a dot in every float ("1.0e-3"); YAML 1.2 and DVC accept "1e-3". Resolve them the 1.2 way.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def read_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # _Loader derives from SafeLoader


class Params(Mapping[str, Any]):
    """Read-only nested view: ``params.extract.num_frames`` or ``params["extract"]["num_frames"]``."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Params(value) if isinstance(value, dict) else value

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        return _deepcopy(self._data)

    def __repr__(self) -> str:
        return f"Params({self._data!r})"


def _deepcopy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _deepcopy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_deepcopy(v) for v in x]
    return x


def _cross_checks(p: dict[str, Any]) -> None:
    prep = p["prepare"]
    if prep["val_fraction"] + prep["test_fraction"] >= 1.0:
        raise ParamsError(
            "params: prepare.val_fraction + prepare.test_fraction = "
            f"{prep['val_fraction'] + prep['test_fraction']:g} leaves nothing to train on: must be < 1"
        )
    demo = p["demo"]
    if demo["min_frames"] > demo["max_frames"]:
        raise ParamsError(
            f"params: demo.min_frames = {demo['min_frames']} is larger than demo.max_frames = "
            f"{demo['max_frames']}: must be <="
        )
    if demo["size"] % 2:
        raise ParamsError(f"params: demo.size = {demo['size']} must be even (H.264 4:2:0 needs even sizes)")
    try:
        re.compile(prep["group_regex"])
    except re.error as exc:
        raise ParamsError(
            f"params: prepare.group_regex = {prep['group_regex']!r} is not a valid regex: {exc}"
        ) from None
    for i, name in enumerate(p["train"]["heads"]):
        if name not in p["heads"]:
            raise ParamsError(
                f"params: train.heads[{i}] = {name!r} has no entry under heads{did_you_mean(name, p['heads'])}; "
                f"defined heads: {', '.join(p['heads'])}"
            )
    if len(set(p["train"]["heads"])) != len(p["train"]["heads"]):
        raise ParamsError(f"params: train.heads = {p['train']['heads']!r} lists a head twice")


def _plain(model: ParamsFile) -> dict[str, Any]:
    """The validated file as plain data; each head entry starts with its ``type``, as params.yaml writes it."""
    data = model.model_dump()
    data["heads"] = {name: {"type": entry.pop("type"), **entry} for name, entry in data["heads"].items()}
    return data


def validate(data: Any) -> Params:
    """Validate a parsed params mapping; returns the cleaned, default-filled view."""
    if data is None:
        data = {}  # an empty file: every default
    if not isinstance(data, dict):
        raise ParamsError(f"params: the top level must be a mapping of keys to values, got {data!r}")
    clean = _plain(validate_model(ParamsFile, data))
    _cross_checks(clean)
    return Params(clean)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file. Raises :class:`ParamsError` with a precise message."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params: file {str(path)!r} not found (pass --params PATH)")
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        raise ParamsError(f"params: {path} is not valid YAML: {exc}") from None
    return validate(data)
