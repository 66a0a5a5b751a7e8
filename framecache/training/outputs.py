"""The files train@<head> writes (docs/ARCHITECTURE.md, names from :mod:`framecache.layout`): ``model.pkl``
(repeat 0's head, used by predict), ``predictions.csv``, ``metrics.json`` and ``curve.csv``, each atomically."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from framecache import heads
from framecache.fileio import write_csv, write_json
from framecache.layout import CURVE, CURVE_COLUMNS, METRICS, MODEL, PREDICTION_COLUMNS, PREDICTIONS, probability_column
from framecache.training.results import TrainingResult


def prediction_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    """predictions.csv rows: every val and test video of every repeat, with its probability per class."""
    classes = result.classes
    for res in result.repeats:
        for split in ("val", "test"):
            if split not in res.proba:
                continue
            part, proba = result.data[split], res.proba[split]
            predicted = np.argmax(proba, axis=1)
            for i, vid in enumerate(part.ids):
                row = {
                    "video_id": vid,
                    "split": split,
                    "repeat": res.repeat,
                    "label": classes[part.y[i]],
                    "predicted": classes[predicted[i]],
                }
                # 9 significant digits: enough to recompute log-loss, small enough to diff
                row.update({probability_column(c): f"{proba[i, j]:.9g}" for j, c in enumerate(classes)})
                yield row


def curve_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    """curve.csv rows: each repeat's training history (empty for heads without epochs)."""
    for res in result.repeats:
        for entry in getattr(res.head, "history_", []):
            yield {"repeat": res.repeat, **{k: entry.get(k, "") for k in CURVE_COLUMNS[1:]}}


def write_outputs(result: TrainingResult, out: str | Path) -> None:
    """model.pkl, predictions.csv, metrics.json and curve.csv in ``out`` (each written atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    heads.save_head(result.repeats[0].head, out / MODEL)
    columns = [*PREDICTION_COLUMNS, *(probability_column(c) for c in result.classes)]
    write_csv(out / PREDICTIONS, prediction_rows(result), columns)
    write_csv(out / CURVE, curve_rows(result), CURVE_COLUMNS)
    write_json(out / METRICS, result.summary())
