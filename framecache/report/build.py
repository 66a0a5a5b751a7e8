"""The report stage's one entry point: read the earlier stages' outputs, compare the heads, and write every
section's files, comparison.md, report.html and summary.json into the report folder.

Nothing here reads a clock or a random source other than the seeded bootstrap, so the same inputs give
byte-identical outputs (``dvc repro`` twice is a no-op).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from framecache import layout
from framecache.data.class_pairs import read_class_pairs
from framecache.errors import FramecacheError
from framecache.fileio import output_set, write_json, write_text
from framecache.report.comparison import Comparison, compare
from framecache.report.inputs import Facts, dataset_facts, extraction_facts
from framecache.report.markdown import document
from framecache.report.page import render_page
from framecache.report.results import load_heads, read_classes, read_groups
from framecache.report.sections import DIGEST, SECTIONS, ReportInputs
from framecache.report.summary import summary_metrics

log = logging.getLogger(__name__)


def write_report(cmp: Comparison, dataset: Facts, extraction: Facts, out: Path) -> dict[str, Any]:
    """Write every report file into ``out``, all or none (a full disk leaves the previous report); returns the
    summary metrics."""
    with output_set(out, layout.STAGE_OUTPUTS["report"], "the report", "dvc repro report") as staging:
        return _write_files(cmp, dataset, extraction, staging)


def _write_files(cmp: Comparison, dataset: Facts, extraction: Facts, out: Path) -> dict[str, Any]:
    inputs = ReportInputs(cmp, dataset, extraction)
    rendered = [section(inputs, out) for section in SECTIONS]
    markdown = {r.fragment.id: r.markdown for r in rendered}
    write_text(out / layout.COMPARISON_MD, document(markdown[s] for s in DIGEST if markdown[s] is not None))
    write_text(out / layout.REPORT_HTML, render_page([r.fragment for r in rendered]))
    summary = summary_metrics(cmp)
    write_json(out / layout.SUMMARY, summary)
    return summary


def class_pairs(configured: Sequence[Sequence[str]], dataset: Sequence[Sequence[str]]) -> list[list[str]]:
    """The pairs the report scores: ``report.class_pairs`` first (so an error names its index), then the prepared
    dataset's own pairs (the demo's travel with it) that share no class with those."""
    taken = {c for pair in configured for c in pair}
    return [list(p) for p in configured] + [list(p) for p in dataset if not taken & set(p)]


def build_report(
    params: Mapping[str, Any], prepared: Path, features: Path, store: Path, models: Path, out: Path
) -> dict[str, Any]:
    """Read the train stages' outputs for ``params.train.heads`` and write the full report into ``out``."""
    rep = params["report"]
    heads, classes = load_heads(models, params["train"]["heads"], params["heads"], read_classes(prepared))
    if classes is None:
        raise FramecacheError(f"no classes: {prepared / layout.CLASSES} is missing and no head has predictions")
    pairs = class_pairs(rep["class_pairs"], read_class_pairs(prepared / layout.CLASS_PAIRS))
    cmp = compare(heads, classes, pairs, rep["bootstrap"], rep["confidence"], params["seed"], read_groups(prepared))
    for p in cmp.problems:
        log.warning("%s", p)
    return write_report(cmp, dataset_facts(prepared, heads), extraction_facts(features, store), out)
