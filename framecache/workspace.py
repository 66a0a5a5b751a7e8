"""Where a stage runs: the user's workspace, or the temporary copy of the repository that ``dvc exp run --queue``
and ``--temp`` build (``.dvc/tmp/exps/...``), and what such a copy lacks.

DVC builds the copy from git: the last commit plus the workspace's changes to files git tracks, then checks out
the outputs dvc.lock names from the shared cache. Files git does not track are not there. Two of them matter:

- ``dvc.lock``, before it is ever committed. Without it every stage runs again in the copy: the feature store,
  a ``persist: true`` output DVC never restores from its run-cache, is extracted again for every queued
  experiment. framecache's ``.dvc/config`` sets ``core.autostage`` so that ``dvc repro`` stages dvc.lock
  (``git add``); :func:`refuse_copy_without_lock` stops extract in a copy built without it anyway, at once,
  instead of hours later.
- A dataset inside the repository that neither git nor DVC tracks (``paths.dataset: data/mini``):
  :func:`refuse_dataset_missing_in_copy` says so in the validate stage, with the ways out.

DVC gives every stage command ``DVC_ROOT``: the repository ``dvc exp run`` was started in, so a command whose
own repository differs from it runs in a copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from framecache.errors import FramecacheError

LOCK = "dvc.lock"


def experiment_origin(root: str | Path, env: Mapping[str, str] | None = None) -> Path | None:
    """The user's repository when ``root`` (the repository this stage runs in) is a DVC experiment's temporary
    copy of it; None in the workspace itself, or outside DVC."""
    origin = (os.environ if env is None else env).get("DVC_ROOT")
    if not origin:
        return None
    origin_path, here = Path(origin).resolve(), Path(root).resolve()
    return None if origin_path == here else origin_path


def _locked_stages(lock: Path) -> set[str]:
    """The stages a dvc.lock records; empty when it is absent or unreadable."""
    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return set()
    stages = data.get("stages") if isinstance(data, dict) else None
    return set(stages) if isinstance(stages, dict) else set()


def refuse_copy_without_lock(root: str | Path, stage: str, env: Mapping[str, str] | None = None) -> None:
    """Stop ``stage`` in an experiment's copy whose dvc.lock lacks the entry the user's repository's dvc.lock has
    for it: the copy was built without that dvc.lock, so DVC runs every stage again, extraction included (see the
    module docstring). The copy's dvc.lock is looked into, not just for: DVC writes one there as the stages before
    this one finish."""
    origin = experiment_origin(root, env)
    if origin is None or stage in _locked_stages(Path(root) / LOCK) or stage not in _locked_stages(origin / LOCK):
        return
    raise FramecacheError(
        f"this experiment runs in DVC's temporary copy of the repository ({Path(root).resolve()}), built without "
        f"{origin / LOCK}: git does not track it, so DVC runs every stage again here, {stage} included, redoing "
        f"work the workspace has. Stage it (`git add {LOCK}`, or commit it), then run or queue the experiment "
        "again (`dvc queue remove --queued` drops the ones queued before); with framecache's .dvc/config "
        "(core.autostage) `dvc repro` stages it for you"
    )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_dataset_missing_in_copy(params: Mapping[str, Any], root: str | Path, env: Mapping[str, str] | None = None):
    """Stop validate in an experiment's copy that lacks ``paths.dataset`` because it sits inside the repository
    untracked. A dataset one of the stages writes (the demo's) is left to that stage; one outside the repository
    is read where it is."""
    origin = experiment_origin(root, env)
    paths = params["paths"]
    dataset = Path(os.path.expanduser(paths["dataset"]))
    here = Path(root).resolve()
    target = Path(os.path.normpath(here / dataset))
    if origin is None or target.exists() or not _inside(target, here):
        return
    if any(_inside(target, Path(os.path.normpath(here / paths[k]))) for k in paths if k != "dataset"):
        return  # made by a stage of this pipeline (paths.demo), or checked out by DVC before it is needed
    rel = target.relative_to(here).as_posix()
    raise FramecacheError(
        f"paths.dataset = {paths['dataset']!r} is inside the repository but tracked by neither git nor DVC, so "
        f"this experiment's temporary copy of the repository ({here}) does not have it ({origin / rel} is not "
        f"copied). Either track it with DVC: `dvc add {rel}`, then `git add {rel}.dvc` (DVC never sees a .dvc "
        "file in a folder git ignores, such as data/: move the dataset first, e.g. to datasets/, and point "
        "paths.dataset there); or keep it outside the repository and set paths.dataset to its absolute path; or "
        f"copy it into each experiment with `dvc exp run --copy-paths {rel} ...` (a full copy per experiment)"
    )
