"""Every name that crosses a stage boundary, defined once: output file names, CSV columns, split names and
where the feature store lives.

A stage writes a file under one of these names and the next stage reads it under the same name; dvc.yaml
declares the same paths (a test checks that its outs match this module). Folders themselves come from
``params.yaml`` (``paths:``) through dvc.yaml to each command's argv; only the names inside them live here.
"""

from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "val", "test")

# prepare -> ${paths.prepared}/
MANIFEST = "manifest.csv"
CLASSES = "classes.txt"
FAILURES = "failures.csv"  # also extract's, under ${paths.features}/
SUMMARY = "summary.json"  # also the report's, under ${paths.report}/
MANIFEST_COLUMNS = (
    "video_id", "path", "label", "label_index", "split", "group",
    "frames", "fps", "duration", "width", "height", "codec", "sha256", "size", "mtime_ns",
)  # fmt: skip
# size (bytes) and mtime_ns: the file as prepare hashed it; extract re-hashes a video whose file differs
# what extract needs of a manifest (a hand-written one may leave the probe columns out)
MANIFEST_REQUIRED = ("video_id", "path", "label", "label_index", "split", "group", "frames", "sha256")
FAILURE_COLUMNS = ("path", "reason")
# a dataset's own order-only class pairs (classes that differ only in frame order): a dataset folder may hold
# this file (the demo writes one beside its clips); prepare copies the pairs of its classes into
# ${paths.prepared}/ (header only when there are none) and the report scores them within pair
CLASS_PAIRS = "class_pairs.csv"
CLASS_PAIR_COLUMNS = ("class_a", "class_b")

# extract -> ${paths.features}/
STORE_SUFFIX = ".h5"
EXTRACT_FAILURE_COLUMNS = ("video_id", "path", "reason")
METRICS = "metrics.json"  # also each head's, under ${paths.models}/<head>/

# train@<head> -> ${paths.models}/<head>/
MODEL = "model.pkl"
PREDICTIONS = "predictions.csv"
# under group k-fold predictions.csv has this column after PREDICTION_COLUMNS: the fold of the model that
# predicted the row (test rows: out of fold); under holdout it is absent
FOLD_COLUMN = "fold"
# what validation chose among, every head: one row per candidate (C, γ; hidden, dropout, weight_decay) per
# fitted model; columns: these keys, the head's grid settings, then SELECTION_SCORES
SELECTION = "selection.csv"
SELECTION_KEYS = ("repeat", "fold", "step")
SELECTION_SCORES = ("train_loss", "val_loss", "val_accuracy", "chosen")
# the head's figures (a DVC plots folder): the test confusion matrix for every head; a torch head's training
# curve (PNG, and CURVE: one row per epoch, "restored" = 1 on the epoch whose weights were kept)
PLOTS_DIR = "plots"
CONFUSION_PNG = "confusion.png"
CURVE_PNG = "curve.png"
CURVE = "curve.csv"  # in PLOTS_DIR, torch heads only
CURVE_COLUMNS = ("repeat", "step", "train_loss", "val_loss", "val_accuracy", "restored")
PREDICTION_COLUMNS = ("video_id", "split", "repeat", "label", "predicted")  # then one p_<class> per class
PROBABILITY_PREFIX = "p_"

# report -> ${paths.report}/
REPORT_HTML = "report.html"
COMPARISON_CSV = "comparison.csv"
COMPARISON_MD = "comparison.md"
PAIRS_CSV = "pairs.csv"
PER_CLASS_CSV = "per_class.csv"
CONFUSION_DIR = "confusion"
CURVES_DIR = "curves"


def store_path(features: str | Path, backbone: str) -> Path:
    """The feature store of ``backbone`` under the ``paths.features`` folder (one store per backbone)."""
    return Path(features) / f"{backbone}{STORE_SUFFIX}"


def head_dir(models: str | Path, head: str) -> Path:
    """Where train@<head> writes its outputs under the ``paths.models`` folder."""
    return Path(models) / head


def probability_column(class_name: str) -> str:
    return f"{PROBABILITY_PREFIX}{class_name}"


def write_classes_text(classes: list[str]) -> str:
    """classes.txt's content: one class name per line; line i is label_index i."""
    return "".join(f"{c}\n" for c in classes)


def read_classes(path: str | Path) -> list[str]:
    """The class names of a classes.txt, in label_index order."""
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# What each DVC stage writes, relative to its folder (paths.prepared, paths.features, the head's folder under
# paths.models, paths.report); dvc.yaml's outs, metrics and plots must declare exactly these (a test checks).
# The extract stage's store is named by the backbone: see store_path.
STAGE_OUTPUTS = {
    "prepare": (MANIFEST, CLASSES, FAILURES, SUMMARY, CLASS_PAIRS),
    "extract": (FAILURES, METRICS),
    "train": (MODEL, PREDICTIONS, SELECTION, METRICS, PLOTS_DIR),
    "report": (
        REPORT_HTML,
        COMPARISON_CSV,
        COMPARISON_MD,
        PAIRS_CSV,
        PER_CLASS_CSV,
        CONFUSION_DIR,
        CURVES_DIR,
        SUMMARY,
    ),
}
