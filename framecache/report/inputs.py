"""What the report says about its inputs: the dataset (prepare's summary, manifest and failures) and the
feature extraction (the store's recorded configuration, extract's metrics and failures).

Each file may be missing: a :class:`Facts` then lists it under ``missing``, so the page shows the gap
instead of silently leaving the section out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from framecache import layout
from framecache.features.store import FeatureStore
from framecache.fileio import read_json
from framecache.report.formatting import shown
from framecache.report.results import HeadResult, read_classes

FAILURES_SHOWN = 50


@dataclass
class Facts:
    """Key/value facts, titled tables, and the input files that were missing."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _read_failures(path: Path, facts: Facts, title: str) -> None:
    if not path.is_file():
        facts.missing.append(f"{path} not found")
        return
    failures = pd.read_csv(path, dtype=str, keep_default_na=False)
    facts.facts.append((title, str(len(failures))))
    if len(failures):
        shown_title = f"{title} (first {FAILURES_SHOWN})" if len(failures) > FAILURES_SHOWN else title
        facts.tables.append((shown_title, failures.head(FAILURES_SHOWN)))


def _class_split_counts(manifest_path: Path, classes: list[str] | None) -> pd.DataFrame:
    manifest = pd.read_csv(manifest_path, dtype={"label": str, "split": str})
    counts = pd.crosstab(manifest["label"], manifest["split"], margins=True, margins_name="total")
    if classes:
        counts = counts.reindex([*[c for c in classes if c in counts.index], "total"])
    cols = [c for c in layout.SPLITS if c in counts.columns] + ["total"]
    return counts[cols].rename_axis(index="class", columns=None).reset_index()


def dataset_facts(prepared: Path, heads: Sequence[HeadResult]) -> Facts:
    """Prepare's summary, videos per class and split, files left out, and videos truncated per head."""
    out = Facts()
    summary_path = prepared / layout.SUMMARY
    if summary_path.is_file():
        for key, value in read_json(summary_path).items():
            if isinstance(value, str | int | float) or (isinstance(value, list) and value):
                text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                out.facts.append((key.replace("_", " "), text))
    else:
        out.missing.append(f"{summary_path} not found")
    manifest_path = prepared / layout.MANIFEST
    if manifest_path.is_file():
        out.tables.append(("Videos per class and split", _class_split_counts(manifest_path, read_classes(prepared))))
    else:
        out.missing.append(f"{manifest_path} not found")
    _read_failures(prepared / layout.FAILURES, out, "Files left out by prepare")
    truncated = {h.name: h.metrics["truncated_videos"] for h in heads if "truncated_videos" in h.metrics}
    if truncated:
        table = pd.DataFrame({"head": list(truncated), "truncated videos": list(truncated.values())})
        out.tables.append(("Videos truncated to a head's max_len (per head)", table))
    return out


def read_store(store: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The feature store's recorded configuration (provenance, compute, library versions) and its per-video
    table (split, sampling ``policy``, stored frames...)."""
    with FeatureStore.open(store) as fs:
        info = dict(fs.provenance)
        for key in ("compute", "libraries"):
            if key in fs.attrs:
                info[key] = fs.attrs[key]
        info["videos"] = len(fs)
        videos = fs.videos()
    return info, videos


def _store_facts(store: Path, out: Facts) -> None:
    try:
        info, videos = read_store(store)
    except Exception as exc:  # a missing or unreadable store must not hide the rest of the report
        out.missing.append(f"feature store provenance unavailable ({store}): {type(exc).__name__}: {exc}")
        return
    for key, value in info.items():
        out.facts.append((f"store: {key}", shown(value)))
    if len(videos) and {"policy", "split", "num_samples"} <= set(videos.columns):
        # full = sampled as asked; keep/repeat = shorter than asked (kept short / padded);
        # capped = more samples than max_frames: max_frames kept, spread over the whole clip
        outcome = pd.crosstab(videos["policy"], videos["split"], margins=True, margins_name="total")
        out.tables.append(
            ("Sampling outcome per video (store)", outcome.rename_axis(index="policy", columns=None).reset_index())
        )
        t = videos["num_samples"]
        out.facts.append(("store: frames per video (min / median / max)", f"{t.min()} / {t.median():g} / {t.max()}"))


def extraction_facts(features: Path, store: Path) -> Facts:
    """The store's provenance and sampling outcome, extract's metrics, and the videos it could not decode."""
    out = Facts()
    _store_facts(store, out)
    metrics_path = features / layout.METRICS
    if metrics_path.is_file():
        for key, value in read_json(metrics_path).items():
            out.facts.append((key.replace("_", " "), shown(value)))
    else:
        out.missing.append(f"{metrics_path} not found")
    _read_failures(features / layout.FAILURES, out, "Videos extraction could not decode")
    return out
