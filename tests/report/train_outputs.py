"""Fixture inputs of the report stage, written in the exact per-stage contract of docs/ARCHITECTURE.md (names
from framecache.layout): prepare's folder, extract's metrics and failures, and each head's predictions,
metrics and curve as train@<head> writes them; plus the params the report reads.

Ten classes: four "appearance" classes and three order-only pairs. Simulated heads are right at a chosen rate
on appearance videos and within pairs, so tests know what the report should conclude.

Imported as ``from tests.report.train_outputs import ...``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from framecache import layout
from framecache.evaluation.metrics import classification_metrics
from framecache.report.build import build_report
from framecache.report.comparison import Comparison, compare
from framecache.report.results import load_head_result

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
STORE = "efficientnet_lite0.h5"


def simulate_proba(labels: list[str], acc_app: float, acc_pair: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities whose argmax is right with the given rates; an order-only mistake picks the partner."""
    c = len(CLASSES)
    out = np.empty((len(labels), c))
    for i, lab in enumerate(labels):
        p = rng.random(c) * 0.5
        if lab in PARTNER:
            pick = lab if rng.random() < acc_pair else PARTNER[lab]
        else:
            pick = lab if rng.random() < acc_app else rng.choice([x for x in APPEARANCE if x != lab])
        p[CLASSES.index(pick)] += 3.0
        out[i] = p / p.sum()
    return out


def _write_prepared(prepared: Path, per_class: int) -> list[dict]:
    manifest = []
    for c in CLASSES:
        for split, n in zip(layout.SPLITS, (per_class, per_class // 2, per_class), strict=True):
            for j in range(n):
                manifest.append({"video_id": f"{c}/{split}_{j:02d}.mp4", "label": c, "split": split})
    pd.DataFrame(manifest).assign(
        path=lambda d: "data/demo/videos/" + d["video_id"], label_index=lambda d: d["label"].map(CLASSES.index)
    ).to_csv(prepared / layout.MANIFEST, index=False)
    (prepared / layout.CLASSES).write_text(layout.write_classes_text(CLASSES))
    (prepared / layout.FAILURES).write_text("path,reason\nbroken.mp4,no video stream\n")
    (prepared / layout.SUMMARY).write_text(json.dumps({"source": "manifest", "split_source": "generated",
                                                       "videos": len(manifest), "classes": len(CLASSES),
                                                       "failures": 1}))  # fmt: skip
    return manifest


def _write_features(features: Path, videos: int) -> None:
    (features / layout.METRICS).write_text(json.dumps({"videos": videos, "frames": 16 * videos, "failures": 0,
                                                       "frames_per_second": 41.5, "decode_seconds": 3.2,
                                                       "model_seconds": 20.1, "device": "cpu"}))  # fmt: skip
    (features / layout.FAILURES).write_text("path,reason\n")


def _write_head(folder: Path, spec: dict, acc: tuple[float, float], evald: list[dict], repeats: int, rng,
                label_as_index: bool) -> None:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    rows, per_repeat = [], []
    test = [i for i, m in enumerate(evald) if m["split"] == "test"]
    y = np.array([CLASSES.index(evald[i]["label"]) for i in test])
    for r in range(repeats):
        proba = simulate_proba([m["label"] for m in evald], *acc, rng)
        for m, p in zip(evald, proba, strict=True):
            pred = CLASSES[int(np.argmax(p))]
            label = CLASSES.index(m["label"]) if label_as_index else m["label"]
            predicted = CLASSES.index(pred) if label_as_index else pred
            probs = {layout.probability_column(c): float(v) for c, v in zip(CLASSES, p, strict=True)}
            rows.append({"video_id": m["video_id"], "split": m["split"], "repeat": r, "label": label,
                         "predicted": predicted, **probs})  # fmt: skip
        per_repeat.append(classification_metrics(y, proba[test]))
    pd.DataFrame(rows).to_csv(folder / layout.PREDICTIONS, index=False)
    metrics = {}
    for k in ("top1", "top5", "mean_class_accuracy", "macro_f1", "log_loss"):
        metrics[f"test_{k}"] = float(np.mean([m[k] for m in per_repeat]))
        metrics[f"test_{k}_std"] = float(np.std([m[k] for m in per_repeat]))
    metrics.update({"val_top1": acc[0], "fit_seconds": 1.5, "inference_ms_per_video": 0.25,
                    "parameters": 12345, "repeats": repeats, "truncated_videos": 0})  # fmt: skip
    (folder / layout.METRICS).write_text(json.dumps(metrics))
    with open(folder / layout.CURVE, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(layout.CURVE_COLUMNS)
        if spec["type"] not in ("pooled", "svm"):  # closed-form fits write a header only
            for r in range(repeats):
                for step in range(8):
                    w.writerow([r, step, 2.0 / (step + 1), 2.2 / (step + 1) + 0.1, min(1.0, 0.2 + 0.1 * step)])
    (folder / layout.MODEL).write_bytes(b"not used by the report")


def write_fixture(
    root: Path,
    heads: dict | None = None,
    per_class: int = 6,
    repeats: int = 1,
    seed: int = 0,
    label_as_index: bool = False,
) -> dict[str, Path]:
    """prepared/, features/ and models/<head>/ as the earlier stages write them; returns the folders."""
    heads = HEADS if heads is None else heads
    rng = np.random.default_rng(seed)
    prepared, features, models = root / "prepared", root / "features", root / "models"
    for d in (prepared, features, models):
        d.mkdir(parents=True, exist_ok=True)
    manifest = _write_prepared(prepared, per_class)
    _write_features(features, len(manifest))
    evald = [m for m in manifest if m["split"] in ("val", "test")]
    for name, (spec, acc_app, acc_pair) in heads.items():
        _write_head(layout.head_dir(models, name), spec, (acc_app, acc_pair), evald, repeats, rng, label_as_index)
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


def comparison_of(dirs: dict[str, Path], params: dict) -> Comparison:
    """The analysis alone (no plots): cheap enough for variants."""
    names = params["train"]["heads"]
    heads = [load_head_result(dirs["models"], n, params["heads"][n], CLASSES)[0] for n in names]
    rep = params["report"]
    return compare(heads, CLASSES, rep["class_pairs"], rep["bootstrap"], rep["confidence"], params["seed"])
