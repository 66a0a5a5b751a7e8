"""Reading params.yaml: YAML with YAML 1.2 floats, validation against the models, and the checks that span
sections. Every stage starts with :func:`load_params`; what it returns is plain data (nested mappings, lists,
numbers and strings), fully defaulted, so no consumer sees a pydantic object.

YAML 1.1 (PyYAML) reads ``1e-3`` as the *string* "1e-3" while DVC's YAML 1.2 reader sees a float; the loader
here resolves floats the YAML 1.2 way so both agree.

:func:`load_params` also refuses what only shows late otherwise: an output folder (``paths.*`` but the
dataset) outside the repository, which DVC refuses to track only after the stage has run, and an
``extract.batch_size`` beyond any device's memory. :func:`write_validated` is the ``validate`` stage that
every other stage depends on, so a bad params file stops ``dvc repro`` before DVC deletes any stage's outputs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from framecache.config.messages import ParamsError, validate_model
from framecache.config.sections import ParamsFile
from framecache.errors import FramecacheError, did_you_mean
from framecache.fileio import atomic_path

# Frames per forward pass, at most: 1024 frames of 224 px are 600 MB of input alone and several GB of
# activations on any backbone here; beyond that a batch only costs memory.
MAX_BATCH_SIZE = 1024
# paths.* that are DVC outputs (paths.dataset is an input and may be anywhere)
OUTPUT_PATHS = ("validated", "demo", "prepared", "features", "models", "report")
# What the validate stage writes: always the same bytes, so re-validating never makes a stage re-run.
VALIDATED = "params.yaml validated; every stage depends on this file (see stages/validate.py)\n"


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
    _check_image_size(p["extract"])
    batch = p["extract"]["batch_size"]
    if batch is not None and batch > MAX_BATCH_SIZE:
        raise ParamsError(
            f"params: extract.batch_size = {batch} is more than {MAX_BATCH_SIZE} frames per forward pass, which "
            "only costs memory (many GB of activations); use at most that, or null for the measured default"
        )


def _check_image_size(extract: dict[str, Any]) -> None:
    """A size the backbone cannot take (a ViT's) stops here, not in the middle of extraction."""
    if extract["image_size"] is None:
        return
    from framecache.backbones.sizes import check_image_size  # builds timm/torchvision ids on the meta device

    try:
        check_image_size(extract["backbone"], extract["image_size"])
    except FramecacheError as exc:
        raise ParamsError(f"params: {exc}") from None


def repository_root(params_path: Path) -> Path:
    """The repository a params file belongs to: the nearest folder above it holding .dvc or .git, else its
    own folder."""
    folder = Path(os.path.abspath(params_path)).parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".dvc").exists() or (candidate / ".git").exists():
            return candidate
    return folder


def _check_outputs_inside(p: Mapping[str, Any], params_path: Path) -> None:
    """Every output folder inside the repository: DVC refuses an output outside it, but only once the stage
    has run (a whole extraction lost). Paths are read as DVC reads them, relative to params.yaml's folder."""
    root = repository_root(params_path)
    base = Path(os.path.abspath(params_path)).parent
    for key in OUTPUT_PATHS:
        value = p["paths"][key]
        target = Path(os.path.normpath(base / os.path.expanduser(value)))
        if target != root and root not in target.parents:
            raise ParamsError(
                f"params: paths.{key} = {value!r} is outside the repository {root}: DVC only tracks outputs "
                f"inside it, and would refuse this one after the stage has run; use a folder inside the "
                f"repository (the default is {_default_path(key)!r})"
            )


def _default_path(key: str) -> str:
    return ParamsFile.model_fields["paths"].default.model_dump()[key]


def _plain(model: ParamsFile) -> dict[str, Any]:
    """The validated file as plain data; each head entry starts with its ``type``, as params.yaml writes it."""
    data = model.model_dump()
    data["heads"] = {name: {"type": entry.pop("type"), **entry} for name, entry in data["heads"].items()}
    return data


def _empty(name: str) -> str:
    return (
        f"params: {name} is empty (nothing but blanks or comments): every stage reads its settings from it, and "
        "dvc.yaml its paths and head list; restore it (`git checkout -- params.yaml`) or start from the "
        "repository's params.yaml, which lists every key with its default"
    )


def validate(data: Any) -> Params:
    """Validate a parsed params mapping; returns the cleaned, default-filled view."""
    if data is None:
        raise ParamsError(_empty("the file"))
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
    if data is None:  # nothing but blanks and comments: DVC cannot even build dvc.yaml's paths from it
        raise ParamsError(_empty(str(path)))
    params = validate(data)
    _check_outputs_inside(params, path)
    return params


def write_validated(params_path: str | Path, out: str | Path) -> Params:
    """The validate stage: load and check ``params_path`` (raising ParamsError), then write ``out`` — the same
    bytes every time, so that stages depending on it re-run only for their own reasons."""
    params = load_params(params_path)
    with atomic_path(out) as tmp:
        tmp.write_text(VALIDATED, encoding="utf-8")
    return params
