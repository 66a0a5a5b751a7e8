"""Predict's library side: the class of new raw videos, scored by a trained head.

Frames are sampled and encoded exactly as the extract stage did for the training videos — the sampling,
backbone, weights and preprocessing are read from the feature store's recorded provenance, not from the
current params. The head's model file records the provenance of the store it was trained on, and a store whose
features differ (another backbone, other weights, other feature code, preprocessing or sampling; ``--store``
naming another store) is refused, naming both. The store's per-video precision (``cpu/fp32``, ``cuda/bfloat16``)
is matched where the device allows, else one warning line says how far new features lie from stored ones.
Folders are searched recursively for the video extensions of ``prepare.extensions``. A file that cannot be
decoded is reported on its own line and the others are still predicted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecache.errors import FramecacheError, did_you_mean
from framecache.features.provenance import EXTRACTOR_VERSION, FEATURE_KEYS, provenance_diff
from framecache.features.store import FeatureStore
from framecache.heads import load_model
from framecache.layout import MODEL, head_dir, store_path


@dataclass
class Prediction:
    """One input file's outcome: its top-k classes, or why it could not be predicted."""

    path: str
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str | None:
        return self.top_k[0][0] if self.top_k else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "label": self.label,
            "top_k": [{"label": c, "probability": round(p, 6)} for c, p in self.top_k],
            "error": self.error,
        }


@dataclass
class PredictionRun:
    """Every input's outcome, in the order the inputs were given, and what produced them."""

    head: str
    store: Path
    results: list[Prediction]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.error)

    @property
    def exit_status(self) -> int:
        """0 when at least one video was predicted, 1 when every input failed."""
        return 1 if self.failed == len(self.results) else 0

    def as_json(self) -> str:
        return json.dumps(
            {"head": self.head, "store": str(self.store), "results": [r.as_dict() for r in self.results]}, indent=2
        )

    def as_table(self) -> str:
        return format_table(self.results)


def expand_inputs(inputs: Sequence[str], extensions: Sequence[str]) -> tuple[list[Path], list[Prediction]]:
    """Files to predict, in the given order (folders searched recursively, sorted), and per-input failures."""
    exts = {e.lower() for e in extensions}
    files: list[Path] = []
    failures: list[Prediction] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            named = sorted(p for p in path.rglob("*") if p.suffix.lower() in exts and (p.is_file() or _broken(p)))
            if not named:
                failures.append(Prediction(raw, error=f"folder holds no video files ({', '.join(sorted(exts))})"))
            files += [p for p in named if not _broken(p)]
            failures += [Prediction(str(p), error=_BROKEN.format(os.readlink(p))) for p in named if _broken(p)]
        elif path.is_file():
            files.append(path)
        else:
            failures.append(
                Prediction(raw, error=_BROKEN.format(os.readlink(path)) if _broken(path) else "file not found")
            )
    return files, failures


_BROKEN = "broken symbolic link: its target {} does not exist"


def _broken(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def class_names(head: Any, store_classes: Sequence[str]) -> list[str]:
    """Names of the head's probability columns: its ``classes_`` are label indices into the store's classes."""
    labels = list(getattr(head, "classes_", range(len(store_classes))))
    if all(isinstance(c, str) for c in labels):
        return labels
    return [store_classes[int(c)] for c in labels]


def extract_features(
    paths: Sequence[str], provenance: Mapping[str, Any], device: str, computed_as: Sequence[str] = ()
) -> list[tuple[np.ndarray | None, str | None]]:
    """Each file's features as the store's configuration computes them (in its precision where the device allows;
    else with a warning line saying how far they lie), or why there are none."""
    # imported here: torch and the backbone load only when there is a file to predict
    from framecache.features.embed import features_for_videos

    return features_for_videos(paths, provenance, device, computed_as=computed_as)


def predict_files(
    files: Sequence[Path],
    head: Any,
    provenance: dict[str, Any],
    classes: Sequence[str],
    device: str,
    top_k: int,
    computed_as: Sequence[str] = (),
) -> list[Prediction]:
    """Extract each file's features with the store's configuration and score them with ``head``."""
    if not files:
        return []
    from framecache.video.probe import still_image  # PyAV: loaded only when there is a file to predict

    out = [Prediction(str(f), error=still_image(f)) for f in files]
    videos = [p for p in out if p.error is None]  # a PNG named .mp4 would read as a one-frame video
    results = extract_features([p.path for p in videos], provenance, device, computed_as) if videos else []
    ok = []
    for pred, (features, reason) in zip(videos, results, strict=True):
        if features is None:
            pred.error = reason or "could not be decoded"
        else:
            ok.append((pred, np.asarray(features, dtype=np.float32)))
    if ok:
        try:
            proba = np.asarray(head.predict_proba([x for _, x in ok]), dtype=np.float64)
        except (ValueError, RuntimeError) as exc:
            raise FramecacheError(
                f"the head cannot score features from this store ({exc}); was it trained on another backbone? "
                "Re-run `dvc repro` so the store and the heads agree"
            ) from None
        names = class_names(head, classes)
        k = min(top_k, proba.shape[1])
        for (pred, _), row in zip(ok, proba, strict=True):
            # stable sort on -p: equal probabilities keep class order, as the report's top-k does
            order = np.argsort(-row, kind="stable")[:k]
            pred.top_k = [(names[j], float(row[j])) for j in order]
    return out


def format_table(predictions: Sequence[Prediction]) -> str:
    """A fixed-width table: one line per input, its label and top-k probabilities, or FAILED and why."""
    width = max([len("video"), *(len(p.path) for p in predictions)])
    lines = [f"{'video':<{width}}  {'label':<16}  top-k probabilities"]
    for p in predictions:
        if p.error:
            lines.append(f"{p.path:<{width}}  {'FAILED':<16}  {p.error}")
        else:
            probs = ", ".join(f"{c} {v:.3f}" for c, v in p.top_k)
            lines.append(f"{p.path:<{width}}  {p.label:<16}  {probs}")
    return "\n".join(lines)


def _model_path(params: Mapping[str, Any], models: Path, head: str) -> Path:
    """The trained head's model file, or an error naming the heads there are (configured or trained)."""
    path = head_dir(models, head) / MODEL
    if not path.is_file() and head in params["heads"] and head not in params["train"]["heads"]:
        raise FramecacheError(
            f"head {head!r} is defined under heads but not listed in train.heads, so `dvc repro` never trains it "
            f"({path} not found): add it to train.heads in params.yaml and run `dvc repro`"
        )
    if not path.is_file():
        names = sorted(set(params["train"]["heads"]) | {p.parent.name for p in models.glob(f"*/{MODEL}")})
        raise FramecacheError(
            f"no trained head {head!r} ({path} not found){did_you_mean(head, names)}; heads: {', '.join(names)}. "
            "Train it with `dvc repro`"
        )
    return path


def _in_input_order(
    inputs: Sequence[str], files: Sequence[Path], done: Sequence[Prediction], failures: Sequence[Prediction]
) -> list[Prediction]:
    """A folder's files where the folder was named, failures where they occurred."""
    by_input = {p.path: p for p in done}
    failed_inputs = {f.path: f for f in failures}
    results: list[Prediction] = []
    for raw in inputs:
        if raw in failed_inputs:
            results.append(failed_inputs[raw])
        elif Path(raw).is_dir():
            inside = [by_input[str(f)] for f in files if Path(raw) in f.parents]
            inside += [f for f in failures if Path(raw) in Path(f.path).parents]  # its broken links
            results += sorted(inside, key=lambda p: Path(p.path))
        else:
            results.append(by_input[str(Path(raw))])
    return results


def check_trained_on(
    trained_on: Mapping[str, Any] | None, provenance: Mapping[str, Any], head: str, model_file: Path, store_file: Path
) -> None:
    """Refuse a store whose features are not the ones ``head`` was trained on, naming both."""
    if trained_on is None:
        raise FramecacheError(
            f"model file {model_file} does not record the features head {head!r} was trained on; re-run its "
            "train stage (`dvc repro`) so that predict can check them against the store"
        )
    diffs = provenance_diff(
        provenance, {k: trained_on.get(k, "<absent>") for k in FEATURE_KEYS}, "the store has", "the head was trained on"
    )
    if diffs:
        raise FramecacheError(
            f"head {head!r} was trained on {trained_on.get('backbone')} features (feature store "
            f"{trained_on.get('store', '?')}), but feature store {store_file} holds {provenance.get('backbone')} "
            f"features computed differently — {'; '.join(diffs)}. Its scores on them would be meaningless: predict "
            f"with --store {trained_on.get('store', '<the store it was trained on>')}, or re-train the head on this "
            "store (`dvc repro` with the extract params that built it)"
        )


def predict_videos(
    params: Mapping[str, Any],
    inputs: Sequence[str],
    head: str,
    *,
    store: str | Path | None = None,
    models: str | Path | None = None,
    device: str | None = None,
    top_k: int = 5,
) -> PredictionRun:
    """Predict ``inputs`` (files and folders) with the trained ``head``; store, models folder and device default
    to ``paths.features``/``extract.backbone``, ``paths.models`` and ``extract.device``."""
    store_file = Path(store or store_path(params["paths"]["features"], params["extract"]["backbone"]))
    model_file = _model_path(params, Path(models or params["paths"]["models"]), head)
    with FeatureStore.open(store_file) as feature_store:
        provenance = dict(feature_store.provenance)
        classes = list(feature_store.classes)
        computed_as = sorted(set(feature_store.column("compute")) - {""})  # how its videos' features were computed
    if provenance.get("extractor_version") != EXTRACTOR_VERSION:
        # new videos would get features from other code than the ones the head was trained on
        raise FramecacheError(
            f"feature store {store_file} was extracted by other feature code (extractor_version "
            f"{provenance.get('extractor_version')}, this code {EXTRACTOR_VERSION}); re-run `dvc repro` "
            "(extract and train) first"
        )
    model, trained_on = load_model(model_file)
    check_trained_on(trained_on, provenance, head, model_file, store_file)
    files, failures = expand_inputs(inputs, params["prepare"]["extensions"])
    device = device or params["extract"]["device"]
    done = predict_files(files, model, provenance, classes, device, top_k, computed_as)
    return PredictionRun(head, store_file, _in_input_order(inputs, files, done, failures))
