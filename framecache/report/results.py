"""Reading the train stages' outputs for the report: each head's ``metrics.json``, ``predictions.csv`` and
``curve.csv`` under ``${paths.models}/<head>/`` (file names and columns from :mod:`framecache.layout`).

A missing or unreadable file becomes a *problem* recorded on the head, not an exception: the report still
renders and says what is missing. :func:`aligned` puts one split of a head's predictions into arrays ordered
by video, every repeat on the same videos, which is what the paired statistics need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from framecache import heads as registry
from framecache import layout
from framecache.errors import FramecacheError
from framecache.fileio import read_json

TRAIN, VAL, TEST = layout.SPLITS
PREFIX = layout.PROBABILITY_PREFIX
# The curve's key columns; the value columns (losses, accuracy) may be absent or empty for some heads.
CURVE_KEYS = layout.CURVE_COLUMNS[:2]
# Train stages that record what validation chose among write it to selection.csv (one row per candidate, a
# ``chosen`` column) and a torch head's curve under plots/; older ones wrote the grid as curve.csv. Both read.
SELECTION = getattr(layout, "SELECTION", "selection.csv")
CURVE_PLACES = (Path(getattr(layout, "PLOTS_DIR", "plots")) / layout.CURVE, Path(layout.CURVE))


def is_baseline_candidate(config: Mapping[str, Any]) -> bool:
    """An order-blind head without torch (pooled or SVM on a static pooling): what the others are tested against."""
    return not registry.uses_torch(config) and registry.is_order_blind(config)


@dataclass
class HeadResult:
    """One trained head's outputs as read from ``${paths.models}/<head>/``."""

    name: str
    type: str
    order_blind: bool
    baseline_candidate: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    predictions: pd.DataFrame | None = None  # columns video_id, split, repeat, label_index, p_<class>...
    curve: pd.DataFrame | None = None
    selection: pd.DataFrame | None = None  # selection.csv: the candidates validation chose among
    problems: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # the ``heads.<name>`` entry
    folder: Path | None = None  # ${paths.models}/<head>/: the train stage's figures are read from there

    @property
    def grid_search(self) -> bool:
        """A closed-form head that picks its settings from a grid on validation (pooled, SVM): its curve.csv
        is one row per grid point, not a training curve."""
        return self.type in registry.REGISTRY and not registry.head_record(self.type).uses_torch

    @property
    def usable(self) -> bool:
        return self.predictions is not None


def read_classes(prepared: Path) -> list[str] | None:
    """The prepared dataset's classes, or None when classes.txt is absent (the heads' columns then decide)."""
    path = prepared / layout.CLASSES
    return layout.read_classes(path) if path.is_file() else None


def read_groups(prepared: Path) -> dict[str, str] | None:
    """Each video's group from prepare's manifest (``video_id`` → ``group``), or None without one.

    Videos of one group (clips of one source, one person, a mirrored twin) are resampled together.
    """
    path = prepared / layout.MANIFEST
    if not path.is_file():
        return None
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"video_id", "group"} <= set(manifest.columns):
        return None
    return dict(zip(manifest["video_id"], manifest["group"], strict=True))


def _label_index(path: Path, labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Labels as class indices; a file may write class names or indices."""
    if pd.api.types.is_integer_dtype(labels):
        index = labels.to_numpy(dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(classes)):
            raise FramecacheError(f"{path}: label indices outside 0..{len(classes) - 1}")
        return index
    names = labels.astype(str)
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(names) - set(position))
    if unknown:
        raise FramecacheError(f"{path}: labels not among the classes: {', '.join(unknown[:5])}")
    return names.map(position).to_numpy(dtype=np.int64)


def read_predictions(path: Path, classes: Sequence[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Parse a head's predictions.csv; returns it with an integer ``label_index`` column, and the classes.

    Labels may be class names or indices. Probability columns are reordered to ``classes`` when given; a
    file whose ``p_<class>`` columns do not name exactly those classes is rejected.
    """
    df = pd.read_csv(path, dtype={"video_id": str, "split": str})
    missing = [c for c in layout.PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise FramecacheError(f"{path}: missing column(s) {', '.join(missing)}")
    names = [c[len(PREFIX) :] for c in df.columns if c.startswith(PREFIX)]
    if not names:
        raise FramecacheError(f"{path}: no {PREFIX}<class> probability columns")
    if classes is None:
        classes = names
    elif sorted(names) != sorted(classes):
        extra, absent = sorted(set(names) - set(classes)), sorted(set(classes) - set(names))
        raise FramecacheError(
            f"{path}: probability columns do not match {layout.CLASSES} (extra: {extra or 'none'}, "
            f"missing: {absent or 'none'}); re-run the train stage"
        )
    out = pd.DataFrame(
        {
            "video_id": df["video_id"],
            "split": df["split"],
            "repeat": df["repeat"].astype(np.int64),
            "label_index": _label_index(path, df["label"], classes),
        }
    )
    columns = [layout.probability_column(c) for c in classes]
    proba = df[columns].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(proba)):
        raise FramecacheError(f"{path}: non-finite probabilities")
    out = pd.concat([out, pd.DataFrame(proba, columns=columns)], axis=1)
    return out, list(classes)


def _read_curves(folder: Path, res: HeadResult) -> None:
    """The head's curve (the first of :data:`CURVE_PLACES` that exists) and selection.csv, when written."""
    path = next((folder / p for p in CURVE_PLACES if (folder / p).is_file()), None)
    if path is not None:
        curve = pd.read_csv(path)
        if all(c in curve.columns for c in CURVE_KEYS):
            res.curve = curve
        else:
            res.problems.append(f"{layout.CURVE} lacks {'/'.join(CURVE_KEYS)} columns")
    if (folder / SELECTION).is_file():
        selection = pd.read_csv(folder / SELECTION, dtype={"fold": str}, keep_default_na=True)
        if {"step", "chosen"} <= set(selection.columns):
            res.selection = selection
        else:
            res.problems.append(f"{SELECTION} lacks step/chosen columns")


def load_head_result(
    models: Path, name: str, config: Mapping[str, Any], classes: Sequence[str] | None
) -> tuple[HeadResult, list[str] | None]:
    """Read one head's folder; missing or unreadable files become ``problems`` instead of exceptions."""
    folder = layout.head_dir(models, name)
    res = HeadResult(
        name,
        str(config.get("type")),
        registry.is_order_blind(config),
        is_baseline_candidate(config),
        config=dict(config),
        folder=folder,
    )
    if (folder / layout.METRICS).is_file():
        try:
            res.metrics = read_json(folder / layout.METRICS)
        except ValueError as exc:
            res.problems.append(f"{layout.METRICS} unreadable ({exc})")
    else:
        res.problems.append(f"{layout.METRICS} missing: cost columns empty")
    _read_curves(folder, res)
    if (folder / layout.PREDICTIONS).is_file():
        try:
            res.predictions, classes = read_predictions(folder / layout.PREDICTIONS, classes)
        except (FramecacheError, ValueError, KeyError) as exc:
            res.problems.append(str(exc))
    else:
        res.problems.append(f"{layout.PREDICTIONS} missing in {folder}: head left out of the comparison")
    return res, classes


def load_heads(
    models: Path, names: Sequence[str], configs: Mapping[str, Mapping[str, Any]], classes: list[str] | None
) -> tuple[list[HeadResult], list[str] | None]:
    """Every head of ``train.heads``, in that order; the classes come from the first predictions when unknown."""
    results = []
    for name in names:
        res, classes = load_head_result(models, name, configs[name], classes)
        results.append(res)
    return results, classes


def aligned(res: HeadResult, split: str, ids: Sequence[str] | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(video ids, labels (N,), probabilities (R, N, C)) of one split, every repeat in the order of ``ids``."""
    df = res.predictions
    assert df is not None
    df = df[df["split"] == split]
    pcols = [c for c in df.columns if c.startswith(PREFIX)]
    repeats = sorted(df["repeat"].unique())
    if not repeats:
        return [], np.zeros(0, np.int64), np.zeros((0, 0, len(pcols)))
    if ids is None:
        ids = sorted(df.loc[df["repeat"] == repeats[0], "video_id"])
    probas, labels = [], None
    for r in repeats:
        part = df[df["repeat"] == r].drop_duplicates("video_id").set_index("video_id")
        missing = set(ids) - set(part.index)
        if missing:
            raise FramecacheError(
                f"{res.name}: repeat {r} has no {split} prediction for {len(missing)} video(s), "
                f"e.g. {sorted(missing)[0]!r}"
            )
        part = part.loc[list(ids)]
        probas.append(part[pcols].to_numpy(dtype=np.float64))
        labels = part["label_index"].to_numpy(dtype=np.int64) if labels is None else labels
    return list(ids), labels, np.stack(probas)
