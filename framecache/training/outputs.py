"""The files train@<head> writes (docs/ARCHITECTURE.md, names from :mod:`framecache.layout`), each atomically:
``model.pkl`` (the head predict uses), ``predictions.csv``, ``selection.csv`` (what validation chose among),
``metrics.json``, and the ``plots/`` folder: ``confusion.png`` for every head, and for torch heads only their
training curve, ``curve.csv`` and ``curve.png`` (a grid search is a table, not a curve)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from framecache import heads
from framecache.fileio import output_set, write_csv, write_json
from framecache.layout import (
    CONFUSION_PNG,
    CURVE,
    CURVE_COLUMNS,
    CURVE_PNG,
    FOLD_COLUMN,
    METRICS,
    MODEL,
    PLOTS_DIR,
    PREDICTION_COLUMNS,
    PREDICTIONS,
    SELECTION,
    SELECTION_KEYS,
    SELECTION_SCORES,
    STAGE_OUTPUTS,
    probability_column,
)
from framecache.training.results import TrainingResult


def prediction_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    """predictions.csv rows: every val and test video of every repeat, with its probability per class (and,
    under group k-fold, the fold whose model predicted it)."""
    classes = result.classes
    for res in result.repeats:
        for split in ("val", "test"):
            if split not in res.proba:
                continue
            part, proba = result.data[split], res.proba[split]
            fold = result.fold.get(split)
            predicted = np.argmax(proba, axis=1)
            for i, vid in enumerate(part.ids):
                row = {
                    "video_id": vid,
                    "split": split,
                    "repeat": res.repeat,
                    "label": classes[part.y[i]],
                    "predicted": classes[predicted[i]],
                }
                if fold is not None:
                    row[FOLD_COLUMN] = int(fold[i])
                # 9 significant digits: enough to recompute log-loss, small enough to diff
                row.update({probability_column(c): f"{proba[i, j]:.9g}" for j, c in enumerate(classes)})
                yield row


def _is_trained_by_epochs(head: Any) -> bool:
    return hasattr(head, "best_epoch_")


def _curve_heads(result: TrainingResult) -> list[tuple[int, Any]]:
    """``(repeat, head)`` whose training curves are written: each repeat's head, or the refitted model."""
    if result.refit is not None:
        return [(0, result.refit)]
    return [(res.repeat, res.head) for res in result.repeats]


def curve_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    """curve.csv rows: each epoch of each written head's training history, ``restored`` = 1 on the epoch whose
    weights were kept. write_outputs writes them for heads trained by epochs only (a pooled or SVM head's grid
    goes to selection.csv)."""
    for repeat, head in _curve_heads(result):
        best = getattr(head, "best_epoch_", None)
        for entry in getattr(head, "history_", []):
            row = {"repeat": repeat, **{k: entry.get(k, "") for k in CURVE_COLUMNS[1:-1]}}
            row["restored"] = "" if best is None else int(entry["step"] == best)
            yield row


def _grid(head: Any) -> list[dict[str, Any]]:
    # a head's candidates: grid_ (every head of this package); a head with only a grid history_ counts too
    grid = getattr(head, "grid_", None)
    if grid is None and not _is_trained_by_epochs(head):
        grid = getattr(head, "history_", None)
    return list(grid or [])


def _selection_heads(result: TrainingResult) -> Iterator[tuple[int, Any, Any]]:
    for res in result.repeats:
        if res.fold_heads:
            yield from ((res.repeat, f, h) for f, h in enumerate(res.fold_heads))
        else:
            yield res.repeat, "", res.head
    if result.refit is not None:
        yield 0, "refit", result.refit


def selection_table(result: TrainingResult) -> tuple[list[dict[str, Any]], list[str]]:
    """selection.csv's rows and columns: every candidate of every fitted model (its settings, validation
    scores, a torch head's restored epoch), ``chosen`` = 1 on the one kept."""
    rows, settings, extra = [], {}, {}
    for repeat, fold, head in _selection_heads(result):
        chosen = getattr(head, "best_params_", {})
        settings.update(dict.fromkeys(chosen))
        for entry in _grid(head):
            row = {"repeat": repeat, "fold": fold, **{k: v for k, v in entry.items() if k not in ("repeat", "fold")}}
            extra.update(dict.fromkeys(k for k in entry if k not in (*SELECTION_KEYS, *SELECTION_SCORES, *chosen)))
            row["chosen"] = int(bool(chosen) and all(entry.get(k) == v for k, v in chosen.items()))
            rows.append(row)
    scores = SELECTION_SCORES[:-1]
    return rows, [*SELECTION_KEYS, *settings, *scores, *(k for k in extra if k not in settings), SELECTION_SCORES[-1]]


def draw_figures(result: TrainingResult, plots: Path) -> None:
    """plots/confusion.png (repeat 0's test predictions) and, for a torch head, plots/curve.png."""
    from framecache.training import figures

    test = result.data["test"]
    predicted = np.argmax(result.repeats[0].proba["test"], axis=1)
    scope = "out of fold" if result.evaluation.method != "holdout" else "test"
    title = f"{result.name}: {scope} ({len(test)} videos)"
    figures.plot_confusion(test.y, predicted, result.classes, title, plots / CONFUSION_PNG)
    (plots / CURVE_PNG).unlink(missing_ok=True)
    head = _curve_heads(result)[0][1]
    if _is_trained_by_epochs(head):
        figures.plot_curve(head.history_, head.best_epoch_, result.name, plots / CURVE_PNG)


def write_outputs(result: TrainingResult, out: str | Path, trained_on: Mapping[str, Any] | None = None) -> None:
    """model.pkl (recording ``trained_on``, the feature store's provenance and path), predictions.csv,
    selection.csv, metrics.json and plots/ in ``out``: all of them or, when a write fails (a full disk), none
    (the previous run's files stay)."""
    stage = f"train@{result.name}"
    with output_set(out, STAGE_OUTPUTS["train"], f"the outputs of {stage}", f"dvc repro {stage}") as staging:
        _write_files(result, staging, trained_on)


def _write_files(result: TrainingResult, out: Path, trained_on: Mapping[str, Any] | None) -> None:
    plots = out / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    heads.save_head(result.model, out / MODEL, trained_on)
    columns = [*PREDICTION_COLUMNS, *([FOLD_COLUMN] if result.fold else []), *map(probability_column, result.classes)]
    write_csv(out / PREDICTIONS, prediction_rows(result), columns)
    write_csv(out / SELECTION, *selection_table(result))
    if _is_trained_by_epochs(result.model):
        write_csv(plots / CURVE, curve_rows(result), CURVE_COLUMNS)
    draw_figures(result, plots)
    write_json(out / METRICS, result.summary())
