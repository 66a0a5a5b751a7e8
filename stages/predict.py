"""Predict the class of new raw videos with a trained head: ``python -m stages.predict VIDEO_OR_FOLDER...
--head NAME``.

Frames are sampled and encoded exactly as the extract stage did for the training videos — the sampling,
backbone, weights and preprocessing are read from the feature store's recorded provenance, not from the
current params, so a prediction always matches the features the head was trained on. Folders are searched
recursively for the video extensions of ``prepare.extensions``. A file that cannot be decoded is reported
on its own line and the others are still predicted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecache import cli
from framecache.config.params import load_params
from framecache.errors import FramecacheError

EPILOG = """exit status: 0 when at least one video was predicted (files that failed are reported per file),
1 when every file failed, 2 for a usage or configuration problem (unknown head, missing store or model)."""


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


def expand_inputs(inputs: Sequence[str], extensions: Sequence[str]) -> tuple[list[Path], list[Prediction]]:
    """Files to predict, in the given order (folders searched recursively, sorted), and per-input failures."""
    exts = {e.lower() for e in extensions}
    files: list[Path] = []
    failures: list[Prediction] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in exts)
            if not found:
                failures.append(Prediction(raw, error=f"folder holds no video files ({', '.join(sorted(exts))})"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            failures.append(Prediction(raw, error="file not found"))
    return files, failures


def class_names(head: Any, store_classes: Sequence[str]) -> list[str]:
    """Names of the head's probability columns: its ``classes_`` are label indices into the store's classes."""
    labels = list(getattr(head, "classes_", range(len(store_classes))))
    if all(isinstance(c, str) for c in labels):
        return labels
    return [store_classes[int(c)] for c in labels]


def predict_files(
    files: Sequence[Path], head: Any, provenance: dict[str, Any], classes: Sequence[str], device: str, top_k: int
) -> list[Prediction]:
    """Extract each file's features with the store's configuration and score them with ``head``."""
    if not files:
        return []
    from framecache.features.extraction import features_for_videos

    results = features_for_videos([str(f) for f in files], provenance, device)
    out = [Prediction(str(f)) for f in files]
    ok = []
    for pred, (features, reason) in zip(out, results, strict=True):
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
    width = max([len("video"), *(len(p.path) for p in predictions)])
    lines = [f"{'video':<{width}}  {'label':<16}  top-k probabilities"]
    for p in predictions:
        if p.error:
            lines.append(f"{p.path:<{width}}  {'FAILED':<16}  {p.error}")
        else:
            probs = ", ".join(f"{c} {v:.3f}" for c, v in p.top_k)
            lines.append(f"{p.path:<{width}}  {p.label:<16}  {probs}")
    return "\n".join(lines)


def _head_names(params: Any, models: Path) -> list[str]:
    trained = {p.parent.name for p in models.glob("*/model.pkl")}
    return sorted(set(params["train"]["heads"]) | trained)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.predict",
        description=__doc__.splitlines()[0].split(":")[0] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files and/or folders")
    parser.add_argument("--head", required=True, help="trained head to use (a name from params train.heads)")
    parser.add_argument("--top-k", type=int, default=5, help="classes listed per video (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    parser.add_argument("--store", help="feature store (default: <paths.features>/<extract.backbone>.h5)")
    parser.add_argument("--models", help="trained heads folder (default: paths.models)")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), help="where the CNN runs (default: params extract.device)"
    )
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be >= 1, got {args.top_k}")
    params = load_params(args.params)
    store_path = Path(args.store or Path(params["paths"]["features"]) / f"{params['extract']['backbone']}.h5")
    models = Path(args.models or params["paths"]["models"])

    model_path = models / args.head / "model.pkl"
    if not model_path.is_file():
        names = _head_names(params, models)
        close = difflib.get_close_matches(args.head, names, n=1, cutoff=0.6)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise FramecacheError(
            f"no trained head {args.head!r} ({model_path} not found){hint}; heads: {', '.join(names)}. "
            "Train it with `dvc repro`"
        )

    from framecache.features.store import FeatureStore
    from framecache.heads import load_head

    with FeatureStore.open(store_path) as store:
        provenance = dict(store.provenance)
        classes = list(store.classes)
    head = load_head(model_path)

    files, failures = expand_inputs(args.inputs, params["prepare"]["extensions"])
    done = predict_files(files, head, provenance, classes, args.device or params["extract"]["device"], args.top_k)
    by_input = {p.path: p for p in done}
    # report in the order given: a folder's files where the folder was named, failures where they occurred
    results: list[Prediction] = []
    failed_inputs = {f.path: f for f in failures}
    for raw in args.inputs:
        if raw in failed_inputs:
            results.append(failed_inputs[raw])
        elif Path(raw).is_dir():
            results += [by_input[str(f)] for f in files if Path(raw) in f.parents]
        else:
            results.append(by_input[str(Path(raw))])

    if args.json:
        print(json.dumps({"head": args.head, "store": str(store_path),
                          "results": [r.as_dict() for r in results]}, indent=2))  # fmt: skip
    else:
        print(format_table(results))
    bad = [r for r in results if r.error]
    if bad:
        print(f"{len(bad)} of {len(results)} input(s) could not be predicted", file=sys.stderr)
    return 1 if len(bad) == len(results) else 0


if __name__ == "__main__":
    cli.run(main)
