"""Fixture inputs of the report stage, written in the exact per-stage contract of docs/ARCHITECTURE.md (names
from framecache.layout): prepare's folder, extract's metrics and failures, and each head's predictions,
metrics and curve as train@<head> writes them; plus the params the report reads.

Ten classes: four "appearance" classes and three order-only pairs (a clip and its reversal share a group, as in
the demo), or any other classes (``classes=``). Simulated heads are right at a chosen rate on appearance videos
and within pairs, so tests know what the report should conclude. Each head's files are written by the train
stage's own writers (:mod:`framecache.training.outputs`, ``TrainingResult.summary``) from fake fitted heads.

Imported as ``from tests.report.train_outputs import ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from framecache import heads as registry
from framecache import layout
from framecache.evaluation.metrics import classification_metrics
from framecache.report.build import build_report
from framecache.report.comparison import Comparison, compare
from framecache.report.results import load_head_result, read_groups
from framecache.training import outputs
from framecache.training.inputs import SplitData
from framecache.training.results import RepeatResult, TrainingResult

APPEARANCE = ["cat", "coffee", "astronaut", "rocket"]
PAIRS = [["zoom_in", "zoom_out"], ["rotate_cw", "rotate_ccw"], ["fade_in", "fade_out"]]
CLASSES = APPEARANCE + [c for p in PAIRS for c in p]
PARTNER = {a: b for a, b in PAIRS} | {b: a for a, b in PAIRS}

# name -> (head config, accuracy on appearance videos, within-pair accuracy on order-only videos)
HEADS = {
    "pool_mean": ({"type": "pooled", "pooling": "mean"}, 0.95, 0.5),
    "svm_linear": ({"type": "svm", "kernel": "linear", "pooling": "mean"}, 0.9, 0.5),
    "pool_delta": ({"type": "pooled", "pooling": "delta"}, 0.8, 0.85),
    "lstm": ({"type": "lstm", "hidden": 16}, 0.95, 1.0),
    "transformer": ({"type": "transformer"}, 0.9, 0.95),
}
TWO = {"pool_mean": HEADS["pool_mean"], "lstm": HEADS["lstm"]}
GRID_TYPES = ("pooled", "svm")
STORE = "efficientnet_lite0.h5"


def simulate_proba(
    labels: list[str], acc_app: float, acc_pair: float, rng: np.random.Generator, classes: list[str] = CLASSES
) -> np.ndarray:
    """Probabilities whose argmax is right with the given rates; an order-only mistake picks the partner."""
    c = len(classes)
    plain = [x for x in classes if x not in PARTNER]
    out = np.empty((len(labels), c))
    for i, lab in enumerate(labels):
        p = rng.random(c) * 0.5
        if lab in PARTNER:
            pick = lab if rng.random() < acc_pair else PARTNER[lab]
        else:
            pick = lab if rng.random() < acc_app else rng.choice([x for x in plain if x != lab])
        p[classes.index(pick)] += 3.0
        out[i] = p / p.sum()
    return out


def _group(label: str, split: str, j: int) -> str:
    """As the demo: a clip and its reversal (the two classes of a pair) share a group; others are their own."""
    if label in PARTNER:
        return f"{min(label, PARTNER[label])}|{split}_{j:02d}"
    return f"{label}|{split}_{j:02d}"


def _write_prepared(prepared: Path, per_class: int, classes: list[str]) -> list[dict]:
    manifest = []
    for c in classes:
        for split, n in zip(layout.SPLITS, (per_class, per_class // 2, per_class), strict=True):
            for j in range(n):
                manifest.append({"video_id": f"{c}/{split}_{j:02d}.mp4", "label": c, "split": split,
                                 "group": _group(c, split, j)})  # fmt: skip
    pd.DataFrame(manifest).assign(
        path=lambda d: "data/demo/videos/" + d["video_id"], label_index=lambda d: d["label"].map(classes.index)
    ).to_csv(prepared / layout.MANIFEST, index=False)
    (prepared / layout.CLASSES).write_text(layout.write_classes_text(classes))
    (prepared / layout.FAILURES).write_text("path,reason\nbroken.mp4,no video stream\n")
    (prepared / layout.SUMMARY).write_text(json.dumps({"source": "manifest", "split_source": "generated",
                                                       "videos": len(manifest), "classes": len(classes),
                                                       "failures": 1}))  # fmt: skip
    return manifest


def _write_features(features: Path, videos: int) -> None:
    (features / layout.METRICS).write_text(json.dumps({"videos": videos, "frames": 16 * videos, "failures": 0,
                                                       "frames_per_second": 41.5, "decode_seconds": 3.2,
                                                       "model_seconds": 20.1, "device": "cpu"}))  # fmt: skip
    (features / layout.FAILURES).write_text("path,reason\n")


class FakeHead:
    """What the train stage's writers read of a fitted head: its history, choice and parameter count."""

    def __init__(self, spec: dict, rng: np.random.Generator):
        self.n_parameters_ = 12345
        if spec["type"] in GRID_TYPES:  # one history row per grid point; the best validation accuracy chosen
            settings = registry.settings_of(spec)  # the grid the real head tries, in its order
            grid = [{"C": float(c)} for c in settings.C_grid]
            if spec.get("kernel") == "rbf":
                grid = [{"C": float(c), "gamma": float(g)} for c in settings.C_grid for g in settings.gamma_grid]
            acc = rng.uniform(0.3, 0.9, len(grid))
            self.history_ = [{"step": i, **g, "train_loss": 1.0, "val_loss": 1.5 - a, "val_accuracy": a}
                             for i, (g, a) in enumerate(zip(grid, acc, strict=True))]  # fmt: skip
            self.best_params_ = grid[int(np.argmax(acc))]
        else:  # a torch head: train/val loss per epoch, the best validation loss restored
            self.history_ = [{"step": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e + 0.05 * max(0, e - 5),
                              "val_accuracy": min(1.0, 0.2 + 0.1 * e)} for e in range(1, 9)]  # fmt: skip
            self.best_epoch_ = int(np.argmin([h["val_loss"] for h in self.history_])) + 1


def _split_data(evald: list[dict], split: str, classes: list[str]) -> SplitData:
    part = [m for m in evald if m["split"] == split]
    return SplitData([m["video_id"] for m in part], [], np.array([classes.index(m["label"]) for m in part]))


def _write_head(folder: Path, name: str, spec: dict, acc: tuple[float, float], evald: list[dict], repeats: int,
                rng, label_as_index: bool, classes: list[str]) -> None:  # fmt: skip
    """The head's outputs written by the train stage's own writer (``framecache.training.outputs.write_outputs``
    on a ``TrainingResult``), so the fixture is exactly what train@<head> writes: model.pkl, predictions.csv,
    metrics.json (with ``_std`` twins) and the head's curve/selection files, whatever their current layout."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {split: _split_data(evald, split, classes) for split in ("val", "test")}
    data["train"] = SplitData(["t"], [], np.zeros(1, np.int64))
    results = []
    for r in range(repeats):
        res = RepeatResult(r, r, FakeHead(spec, rng), 1.5, inference_ms_per_video=0.25)
        for split in ("val", "test"):
            labels = [classes[i] for i in data[split].y]
            res.proba[split] = simulate_proba(labels, *acc, rng, classes)
            res.metrics[split] = classification_metrics(data[split].y, res.proba[split])
        results.append(res)
    outputs.write_outputs(TrainingResult(name, spec, classes, data, results, truncated_videos=0), folder)
    if label_as_index:  # a hand-made file may write class indices instead of names
        pred = pd.read_csv(folder / layout.PREDICTIONS)
        for col in ("label", "predicted"):
            pred[col] = pred[col].map(classes.index)
        pred.to_csv(folder / layout.PREDICTIONS, index=False)


def write_fixture(
    root: Path,
    heads: dict | None = None,
    per_class: int = 6,
    repeats: int = 1,
    seed: int = 0,
    label_as_index: bool = False,
    classes: list[str] = CLASSES,
) -> dict[str, Path]:
    """prepared/, features/ and models/<head>/ as the earlier stages write them; returns the folders."""
    heads = HEADS if heads is None else heads
    rng = np.random.default_rng(seed)
    prepared, features, models = root / "prepared", root / "features", root / "models"
    for d in (prepared, features, models):
        d.mkdir(parents=True, exist_ok=True)
    manifest = _write_prepared(prepared, per_class, classes)
    _write_features(features, len(manifest))
    evald = [m for m in manifest if m["split"] in ("val", "test")]
    for name, (spec, acc_app, acc_pair) in heads.items():
        acc = (acc_app, acc_pair)
        _write_head(layout.head_dir(models, name), name, spec, acc, evald, repeats, rng, label_as_index, classes)
    return {"prepared": prepared, "features": features, "models": models}


def params_for(heads: dict | None = None, class_pairs=PAIRS, n_boot: int = 300, seed: int = 0) -> dict:
    """The params the report reads (seed, train.heads, heads, report) for these fixture heads."""
    heads = HEADS if heads is None else heads
    return {
        "seed": seed,
        "train": {"heads": list(heads)},
        "heads": {name: spec for name, (spec, _, _) in heads.items()},
        "report": {"bootstrap": n_boot, "confidence": 0.95, "class_pairs": class_pairs},
    }


def build(tmp_path: Path, params: dict | None = None, **fixture) -> tuple[dict, Path, dict[str, Path]]:
    """A whole report from fresh fixture inputs; returns (summary, report folder, input folders)."""
    dirs = write_fixture(tmp_path / "in", **fixture)
    params = params or params_for(fixture.get("heads"))
    out = tmp_path / "report"
    summary = build_report(params, dirs["prepared"], dirs["features"], dirs["features"] / STORE, dirs["models"], out)
    return summary, out, dirs


def comparison_of(dirs: dict[str, Path], params: dict, classes: list[str] = CLASSES) -> Comparison:
    """The analysis alone (no plots): cheap enough for variants; groups from the fixture's manifest."""
    names = params["train"]["heads"]
    heads = [load_head_result(dirs["models"], n, params["heads"][n], classes)[0] for n in names]
    rep = params["report"]
    groups = read_groups(dirs["prepared"])
    return compare(heads, classes, rep["class_pairs"], rep["bootstrap"], rep["confidence"], params["seed"], groups)
