"""The params each DVC stage depends on, and the check that they stayed the same while the stage ran.

DVC reads a stage's params from params.yaml *after* its command exits and records those values in dvc.lock. A
value changed while the command ran (``extract.num_frames`` edited during a long extraction, ``heads.gru.hidden``
while train@gru fits) would be recorded for outputs made with the old one: ``dvc repro`` would then call them
up to date. :func:`params_unchanged` wraps a stage's work: it reads the stage's params before the work starts
and again at its very end, and when they differ it stops the command with exit 2 and a message naming each
value, so DVC records nothing and the next ``dvc repro`` runs the stage again with the values now in the file.

:data:`STAGE_PARAMS` mirrors the ``params:`` lists of dvc.yaml (``tests/test_dvc_yaml.py`` keeps them equal).
The one change it cannot see is one made in the instant between its last read and DVC's own, while the command
exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from framecache.errors import FramecacheError

# dvc.yaml's params per stage; "{head}" is train's matrix item; None: the whole file (validate)
STAGE_PARAMS: dict[str, tuple[str, ...] | None] = {
    "validate": None,
    "demo": ("seed", "demo"),
    "prepare": ("seed", "prepare"),
    "extract": ("extract",),
    "train": (
        "seed",
        "train.repeats",
        "train.device",
        "train.cpu_threads",
        "train.evaluation",
        "train.folds",
        "heads.{head}",
    ),
    "report": ("seed", "report", "train.heads", "heads"),
}
_ABSENT = "(absent)"
_UNREADABLE = (OSError, UnicodeDecodeError, yaml.YAMLError)


def stage_keys(stage: str, head: str | None = None) -> tuple[str, ...] | None:
    """The params keys ``stage`` depends on (``head``: train's matrix item); None for the whole file."""
    keys = STAGE_PARAMS[stage]
    return None if keys is None else tuple(k.format(head=head) for k in keys)


def _read(path: Path) -> Any:
    from framecache.config.loading import read_yaml  # the YAML 1.2 reading every stage uses

    return read_yaml(path)


def _value(data: Any, key: str) -> Any:
    node = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node


def _differences(key: str, old: Any, new: Any) -> list[str]:
    """``key: old → new`` for every leaf that differs (a section compared key by key)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = []
        for sub in dict.fromkeys([*old, *new]):
            out += _differences(f"{key}.{sub}" if key else str(sub), old.get(sub, _ABSENT), new.get(sub, _ABSENT))
        return out
    return [] if old == new else [f"{key or 'the file'}: {old!r} → {new!r}"]


def _snapshot(path: Path, keys: tuple[str, ...] | None) -> dict[str, Any]:
    data = _read(path)
    return {"": data} if keys is None else {key: _value(data, key) for key in keys}


@contextlib.contextmanager
def params_unchanged(params: str | Path, stage: str, head: str | None = None, enabled: bool = True) -> Iterator[None]:
    """Run the block, then refuse to finish if the params ``stage`` depends on changed in ``params`` meanwhile.

    Enter it before the stage loads its params: a change between this read and the stage's own then shows as a
    (harmless) difference, never the other way round. ``enabled=False`` (a rank under torchrun, whose launcher
    checks) does nothing."""
    if not enabled:
        yield
        return
    path, keys = Path(params), stage_keys(stage, head)
    name = f"{stage}@{head}" if head else stage
    try:
        before = _snapshot(path, keys)
    except _UNREADABLE:  # the stage's own load_params reports an unreadable file
        before = None
    yield
    if before is None:
        return
    try:
        after = _snapshot(path, keys)
    except _UNREADABLE as exc:  # any reason the file cannot be read now is a change
        changes = [f"{path} cannot be read any more ({exc})"]
    else:
        changes = [d for key in before for d in _differences(key, before[key], after[key])]
    if changes:
        raise FramecacheError(
            f"{path} changed while {name} ran: {'; '.join(changes)}. Its outputs were made with the values it "
            "started with, and DVC would record the new ones in dvc.lock, so this run stops here as failed and "
            f"DVC records nothing; run `dvc repro` again to re-run {name} with the values now in {path.name}"
        )
