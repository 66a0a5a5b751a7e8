"""The typed, validated view of ``params.yaml`` that every stage reads at its start.

The schema below is the single description of every key: its type, default, allowed values and the one-line
meaning that README.md repeats. :func:`load_params` rejects an unknown key (suggesting the nearest known one),
a wrong type, an out-of-range number or an unknown choice with a message naming the key, the value and what
is allowed, so a typo stops the pipeline at once instead of being silently ignored.

YAML 1.1 (PyYAML) reads ``1e-3`` as the *string* "1e-3" while DVC's YAML 1.2 reader sees a float; the loader
here resolves floats the YAML 1.2 way so both agree.

Run ``python -m framecache.config.params [params.yaml]`` to check a file without running anything.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from framecache.errors import FramecacheError

REQUIRED: Any = object()


class ParamsError(FramecacheError):
    """A params.yaml problem; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Field:
    """One params key: its kind, default and constraints."""

    kind: str  # int | float | str | bool | list | dict
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    nullable: bool = False
    item: Field | None = None  # schema of each list item
    min_len: int | None = None
    max_len: int | None = None


@dataclass(frozen=True)
class Dynamic:
    """A section whose keys are user-chosen names, each validated by ``validate(name, value, key)``."""

    validate: Callable[[str, Any, str], Any]
    default: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""


Schema = dict[str, "Field | Dynamic | Schema"]


# --------------------------------------------------------------------------------------------------------
# YAML loading with YAML 1.2 floats


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


# --------------------------------------------------------------------------------------------------------
# Validation


def _describe(f: Field) -> str:
    if f.choices is not None:
        allowed = "one of " + ", ".join(repr(c) for c in f.choices)
    elif f.kind == "list":
        allowed = "a list"
        if f.item is not None:
            allowed += f" of {_describe(f.item)}"
        if f.min_len is not None and f.min_len == f.max_len:
            allowed += f" with exactly {f.min_len} items"
        elif f.min_len:
            allowed += f" with at least {f.min_len} item{'s' if f.min_len > 1 else ''}"
    else:
        allowed = {
            "int": "an integer",
            "float": "a number",
            "str": "a string",
            "bool": "true or false",
            "dict": "a mapping",
        }[f.kind]
        lo = None if f.min is None else (f"> {f.min:g}" if f.min_exclusive else f">= {f.min:g}")
        hi = None if f.max is None else f"<= {f.max:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        if bounds:
            allowed += f" {bounds}"
    if f.nullable:
        allowed += " (or null)"
    return allowed


def _fail(key: str, value: Any, f: Field | None = None, allowed: str | None = None) -> ParamsError:
    what = allowed if allowed is not None else _describe(f)  # type: ignore[arg-type]
    return ParamsError(f"params: {key} = {value!r} is not allowed: expected {what}")


def check_field(value: Any, f: Field, key: str) -> Any:
    """Validate and normalise one value against its field; returns the cleaned value."""
    original = value  # errors quote what the user wrote, not the normalised value
    if value is None:
        if f.nullable:
            return None
        raise _fail(key, original, f)
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise _fail(key, original, f)
    elif f.kind == "int":
        # bool is an int subclass in Python; `true` for a count is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _fail(key, original, f)
    elif f.kind == "float":
        if isinstance(value, bool):
            raise _fail(key, original, f)
        if isinstance(value, str):
            # a quoted "1e-3" (or a YAML 1.1 file read elsewhere) is still clearly a number
            try:
                value = float(value)
            except ValueError:
                raise _fail(key, original, f) from None
        if not isinstance(value, int | float) or math.isnan(value):
            raise _fail(key, original, f)
        value = float(value)
    elif f.kind == "str":
        if not isinstance(value, str):
            raise _fail(key, original, f)
    elif f.kind == "list":
        if not isinstance(value, list):
            raise _fail(key, original, f)
        if (f.min_len is not None and len(value) < f.min_len) or (f.max_len is not None and len(value) > f.max_len):
            raise _fail(key, original, f)
        if f.item is not None:
            value = [check_field(v, f.item, f"{key}[{i}]") for i, v in enumerate(value)]
    elif f.kind == "dict":
        if not isinstance(value, dict):
            raise _fail(key, original, f)
    else:  # pragma: no cover - schema bug
        raise AssertionError(f"unknown field kind {f.kind}")

    if f.choices is not None and value not in f.choices:
        raise _fail(key, original, f)
    if f.kind in ("int", "float"):
        if f.min is not None and (value < f.min or (f.min_exclusive and value == f.min)):
            raise _fail(key, original, f)
        if f.max is not None and value > f.max:
            raise _fail(key, original, f)
    return value


def unknown_key_error(key: str, known: list[str], prefix: str) -> ParamsError:
    full = f"{prefix}{key}"
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f" — did you mean {prefix}{close[0]!r}?" if close else ""
    allowed = ", ".join(sorted(known)) or "(none)"
    return ParamsError(f"params: unknown key {full!r}{hint} (known keys here: {allowed})")


def validate_mapping(data: Any, schema: Schema, prefix: str = "") -> dict[str, Any]:
    """Validate ``data`` against ``schema``, filling defaults; keys are reported with their full dotted path."""
    where = prefix.rstrip(".") or "the top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"params: {where} must be a mapping of keys to values, got {data!r}")
    for key in data:
        if key not in schema:
            raise unknown_key_error(key, list(schema), prefix)
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        full = f"{prefix}{key}"
        if isinstance(spec, Field):
            if key in data:
                out[key] = check_field(data[key], spec, full)
            elif spec.default is REQUIRED:
                raise ParamsError(f"params: missing required key {full!r} ({_describe(spec)})")
            else:
                out[key] = spec.default
        elif isinstance(spec, Dynamic):
            raw = data.get(key, spec.default)
            if not isinstance(raw, dict):
                raise ParamsError(f"params: {full} must be a mapping of names to settings, got {raw!r}")
            out[key] = {name: spec.validate(str(name), val, f"{full}.{name}") for name, val in raw.items()}
        else:
            out[key] = validate_mapping(data.get(key), spec, f"{full}.")
    return out


# --------------------------------------------------------------------------------------------------------
# The schema


def _validate_head(name: str, value: Any, key: str) -> dict[str, Any]:
    # Imported here: the heads registry owns each head type's parameter schema.
    from framecache import heads

    if not isinstance(value, dict):
        raise ParamsError(f"params: {key} must be a mapping with a 'type' key, got {value!r}")
    types = heads.head_types()
    kind = value.get("type")
    if kind not in types:
        close = difflib.get_close_matches(str(kind), types, n=1, cutoff=0.6)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise ParamsError(f"params: {key}.type = {kind!r} is not a head type{hint}; valid types: {', '.join(types)}")
    rest = {k: v for k, v in value.items() if k != "type"}
    return {"type": kind, **validate_mapping(rest, heads.head_param_schema(kind), f"{key}.")}


_POS = {"min": 0.0, "min_exclusive": True}

SCHEMA: Schema = {
    "seed": Field("int", 0, "master random seed: splits, demo clips, head initialisation", min=0),
    "paths": {
        "demo": Field("str", "data/demo", "where the demo stage writes its videos/ and manifest.csv"),
        "dataset": Field(
            "str",
            "data/demo",
            "what prepare indexes: a folder holding a manifest.csv (path,label[,split][,group]), or "
            "UCF101-style split lists, or laid out root/<class>/<video>; or a CSV manifest file itself",
        ),
        "prepared": Field("str", "data/prepared", "prepare's outputs: manifest.csv, classes.txt, failures.csv"),
        "features": Field("str", "data/features", "extract's outputs: <backbone>.h5 feature store and metrics"),
        "models": Field("str", "data/models", "train's outputs: one folder per head"),
        "report": Field("str", "data/report", "report's outputs: report.html and tables"),
    },
    "demo": {
        "clips_per_class": Field("int", 24, "clips generated per class", min=4),
        "size": Field("int", 128, "frame width and height in pixels", min=32, max=1024),
        "fps": Field("int", 25, "frame rate of the demo videos", min=1, max=120),
        "min_frames": Field("int", 24, "shortest clip, in frames", min=2),
        "max_frames": Field("int", 48, "longest clip, in frames", min=2),
    },
    "prepare": {
        "val_fraction": Field(
            "float", 0.2, "share of videos (whole groups) held out for validation", min=0.0, min_exclusive=True, max=0.9
        ),
        "test_fraction": Field(
            "float",
            0.25,
            "share of videos (whole groups) held out for the final test",
            min=0.0,
            min_exclusive=True,
            max=0.9,
        ),
        "group_regex": Field(
            "str",
            r"_g(\d+)_",
            "regex on the file name whose first capture group is the video's group when the manifest "
            "gives none (UCF101: _g08_); videos without a match are their own group",
        ),
        "split_list": Field(
            "int", 1, "which UCF101-style split (trainlist0N/testlist0N) to use when list files exist", min=1
        ),
        "extensions": Field(
            "list",
            [".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"],
            "file endings indexed when scanning a folder (case-insensitive)",
            item=Field("str"),
            min_len=1,
        ),
    },
    "extract": {
        "backbone": Field("str", "efficientnet_lite0", "image CNN from the backbone registry"),
        "image_size": Field(
            "int", None, "input resolution; null uses the backbone's own", nullable=True, min=32, max=1024
        ),
        "sampling": Field("str", "uniform", "frame sampling policy", choices=("uniform", "fps", "all")),
        "num_frames": Field("int", 16, "T for uniform sampling: evenly spaced segment centres", min=1),
        "fps": Field("float", 2.0, "frames per second kept by fps sampling", **_POS),
        "max_frames": Field("int", 64, "cap on frames kept per video by fps and all sampling", min=1),
        "short_videos": Field(
            "str",
            "keep",
            "videos with fewer frames than uniform sampling asks for: keep the frames there are, or "
            "repeat frames up to num_frames (recorded per video either way)",
            choices=("keep", "repeat"),
        ),
        "device": Field("str", "auto", "where the CNN runs", choices=("auto", "cpu", "cuda")),
        "batch_size": Field(
            "int",
            None,
            "frames per forward pass; null uses the measured default for the device",
            nullable=True,
            min=1,
        ),
        "num_workers": Field("int", 2, "decoding worker processes (0 decodes in the main process)", min=0),
        "amp": Field(
            "str", "auto", "mixed precision on CUDA (CPU always runs fp32)", choices=("auto", "off", "fp16", "bf16")
        ),
        "dtype": Field("str", "float16", "storage type of the features", choices=("float16", "float32")),
        "compression": Field("str", "lzf", "HDF5 compression of the feature dataset", choices=("none", "lzf", "gzip")),
        "max_failure_rate": Field(
            "float", 0.1, "fail the stage when more than this share of videos cannot be decoded", min=0.0, max=1.0
        ),
        "checkpoint_seconds": Field(
            "float",
            60.0,
            "save computed features to the resume journal at least this often (a killed run loses at most "
            "this much work); 0 saves after every batch",
            min=0.0,
        ),
        "cpu_threads": Field(
            "int",
            None,
            "torch threads of each extraction process on CPU; null: torch's default for one process, the cores "
            "split between the processes under torchrun. CPU features differ in their last bits with this "
            "number: set it to get bit-identical stores from any number of processes",
            nullable=True,
            min=1,
        ),
        "processes": Field(
            "int",
            1,
            "extraction processes on this machine, one per GPU (or per CPU share): above 1 the stage runs "
            "itself under `torchrun --standalone`; a job already started by torchrun ignores it",
            min=1,
        ),
        "sync_timeout_minutes": Field(
            "float",
            60.0,
            "under torchrun: how long ranks that finished wait for the slowest one before the job fails",
            **_POS,
        ),
    },
    "train": {
        "heads": Field(
            "list",
            [
                "pool_mean",
                "pool_max",
                "pool_min",
                "pool_maxmin",
                "pool_delta",
                "pool_maxmin_delta",
                "svm_linear",
                "svm_rbf",
                "rnn",
                "lstm",
                "gru",
                "attention",
                "transformer",
            ],
            "names of entries in `heads` to train, one DVC stage train@<name> each",
            item=Field("str"),
            min_len=1,
        ),
        "repeats": Field("int", 1, "seeds per head; metrics are reported as mean ± std", min=1),
        "device": Field("str", "auto", "where torch heads train", choices=("auto", "cpu", "cuda")),
        "cpu_threads": Field(
            "int",
            1,
            "CPU threads a head may use (the heads' matrices are small: on a busy machine more threads mostly "
            "wait for each other); null leaves the libraries' defaults",
            nullable=True,
            min=1,
        ),
    },
    "heads": Dynamic(_validate_head, doc="named head configurations: type plus that type's settings"),
    "report": {
        "bootstrap": Field(
            "int", 2000, "bootstrap resamples of the test videos for confidence intervals (seeded by seed)", min=100
        ),
        "confidence": Field(
            "float",
            0.95,
            "confidence level of the intervals; the significance tests use level 1 − confidence",
            min=0.5,
            max=0.999,
        ),
        "class_pairs": Field(
            "list",
            [["zoom_in", "zoom_out"], ["rotate_cw", "rotate_ccw"], ["fade_in", "fade_out"]],
            "order-only class pairs, scored by within-pair accuracy (argmax of p(a) vs p(b)); every other "
            "class is an appearance class; a class may be in one pair only; pairs naming absent classes are "
            "listed as such in the report",
            item=Field("list", item=Field("str"), min_len=2, max_len=2),
        ),
    },
}


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
            close = difflib.get_close_matches(name, list(p["heads"]), n=1, cutoff=0.6)
            hint = f" — did you mean {close[0]!r}?" if close else ""
            raise ParamsError(
                f"params: train.heads[{i}] = {name!r} has no entry under heads{hint}; "
                f"defined heads: {', '.join(p['heads'])}"
            )
    if len(set(p["train"]["heads"])) != len(p["train"]["heads"]):
        raise ParamsError(f"params: train.heads = {p['train']['heads']!r} lists a head twice")


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


def validate(data: Any) -> Params:
    """Validate a parsed params mapping; returns the cleaned, default-filled view."""
    clean = validate_mapping(data, SCHEMA)
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


# --------------------------------------------------------------------------------------------------------
# Reference documentation (README.md "Parameters" is this text; a test keeps the two identical)

TORCH_HEAD_TYPES = ("rnn", "lstm", "gru", "attention", "transformer")


def _md_default(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and len(str(value)) > 40:
        return "see params.yaml"
    return f"`{value}`"


def _md_text(text: str) -> str:
    # "<class>" would be read as an HTML tag and vanish; "<= 1" and "> 0" are fine as they are
    return re.sub(r"<(?=[A-Za-z/])", "&lt;", text.replace("|", "\\|"))


def _md_row(key: str, f: Field) -> str:
    return f"| `{key}` | {_md_default(f.default)} | {_md_text(_describe(f))} | {_md_text(f.doc)} |"


def _md_table(items: list[tuple[str, Field]]) -> list[str]:
    return ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |", *(_md_row(k, f) for k, f in items)]


def _flatten(schema: Schema, prefix: str = "") -> list[tuple[str, Field]]:
    out: list[tuple[str, Field]] = []
    for key, spec in schema.items():
        if isinstance(spec, Field):
            out.append((f"{prefix}{key}", spec))
        elif isinstance(spec, dict):
            out += _flatten(spec, f"{prefix}{key}.")
    return out


def markdown_reference() -> str:
    """Every params key as Markdown tables, generated from the schema (README.md embeds this verbatim)."""
    from framecache import heads

    lines = [*_md_table([("seed", SCHEMA["seed"])]), ""]  # type: ignore[list-item]
    for section in ("paths", "demo", "prepare", "extract", "train"):
        lines += [f"### `{section}`", "", *_md_table(_flatten(SCHEMA[section], f"{section}.")), ""]  # type: ignore[arg-type]
    types = heads.head_types()
    lines += [
        "### `heads`",
        "",
        "Each entry of `heads` is a named head configuration: `type` (one of "
        + ", ".join(f"`{t}`" for t in types)
        + ") plus that type's settings. `train.heads` lists the entries to train; each becomes the DVC stage "
        "`train@<name>`, so one type can have several variants (as `pool_mean` … `pool_maxmin_delta` do).",
        "",
    ]
    shared = set.intersection(*(set(heads.head_param_schema(t)) for t in TORCH_HEAD_TYPES))
    first = heads.head_param_schema(TORCH_HEAD_TYPES[0])
    lines += ["**Torch heads** (" + ", ".join(f"`{t}`" for t in TORCH_HEAD_TYPES) + "), shared settings", ""]
    lines += [*_md_table([(k, f) for k, f in first.items() if k in shared]), ""]
    done: set[str] = set()
    for t in types:
        schema = heads.head_param_schema(t)
        own = [(k, f) for k, f in schema.items() if not (t in TORCH_HEAD_TYPES and k in shared)]
        same = [u for u in types if u not in done and u != t and _same_schema(heads.head_param_schema(u), schema)]
        if t in done:
            continue
        done.update([t, *same])
        names = ", ".join(f"`{u}`" for u in [t, *same])
        extra = " — in addition to the shared settings" if t in TORCH_HEAD_TYPES else ""
        lines += [f"**{names}**{extra}", "", *_md_table(own), ""]
    lines += ["### `report`", "", *_md_table(_flatten(SCHEMA["report"], "report."))]  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def _same_schema(a: Mapping[str, Field], b: Mapping[str, Field]) -> bool:
    return list(a) == list(b) and all(
        (x.default, x.choices, x.min, x.max, x.doc) == (y.default, y.choices, y.min, y.max, y.doc)
        for x, y in zip(a.values(), b.values(), strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--markdown"]:
        print(markdown_reference(), end="")
        return 0
    path = argv[0] if argv else "params.yaml"
    params = load_params(path)
    print(f"{path}: OK ({len(params['heads'])} heads defined, training {', '.join(params['train']['heads'])})")
    return 0


if __name__ == "__main__":
    from framecache.cli import run
    from framecache.config import (
        params as _self,  # the registry's Field is framecache.config.params.Field, not __main__.Field
    )

    run(lambda argv: _self.main(list(argv) if argv else None))
