"""The report's sections, in page order. Each one turns the computed :class:`Comparison` (and the input facts)
into its HTML fragment, its Markdown block where comparison.md has one, and the files it owns under the
report folder.

:data:`SECTIONS` is the page, top to bottom; :data:`DIGEST` picks the sections of comparison.md, in that
file's order (the method notes close the digest, while on the page they sit right under the table). A new
section is one function here, one template under ``templates/sections/`` and one entry in :data:`SECTIONS`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from framecache import layout
from framecache.fileio import atomic_path, write_csv
from framecache.report import confusion as confusion_tables
from framecache.report import curves as curve_tables
from framecache.report import formatting as fmt
from framecache.report import narrative, tables
from framecache.report.comparison import COST_KEYS, Comparison
from framecache.report.inputs import Facts
from framecache.report.markdown import bullet_list, markdown_table
from framecache.report.page import Fragment, emphasis, image, render_fragment, table
from framecache.report.results import TEST, aligned
from framecache.report.selection import ALL

COMPARISON_COLUMNS = [
    "head", "type", "order_blind", "repeats", "test_videos", "test_groups",
    *[f"{m}{s}" for m in tables.METRIC_TITLES for s in ("", "_low", "_high", "_std")],
    "log_loss", "log_loss_std",
    "chance", "above_chance_p", "above_chance_p_holm", "above_chance",
    "order_pairs", "order_pairs_low", "order_pairs_high",
    "appearance", "appearance_low", "appearance_high",
    "baseline", "delta_top1", "delta_top1_low", "delta_top1_high", "delta_top1_p", "delta_top1_p_holm",
    "mcnemar_head_only", "mcnemar_baseline_only", "mcnemar_p", "mcnemar_p_holm",
    *COST_KEYS, "status",
]  # fmt: skip
MATRIX_SUFFIX = ".matrix.csv"  # confusion/<head>.matrix.csv: the full count matrix, linked from the page
PAIR_COLUMNS = ["head", "pair", "status", "test_videos", "test_groups", "accuracy", "low", "high", "std"]


@dataclass(frozen=True)
class ReportInputs:
    """What every section draws on: the comparison and the facts about the dataset and the extraction."""

    cmp: Comparison
    dataset: Facts
    extraction: Facts


@dataclass(frozen=True)
class Rendered:
    """A section's output: its place on the page, its Markdown block (or None) and the files it wrote."""

    fragment: Fragment
    markdown: str | None = None
    files: tuple[Path, ...] = ()


def _write_frame(path: Path, frame: pd.DataFrame) -> Path:
    write_csv(path, frame.to_dict("records"), [str(c) for c in frame.columns])
    return path


def _write_rows(path: Path, rows: list[dict], columns: list[str]) -> Path:
    write_csv(path, ({c: fmt.csv_value(r.get(c)) for c in columns} for r in rows), columns)
    return path


def headline(inp: ReportInputs, out: Path) -> Rendered:
    cmp = inp.cmp
    lines = narrative.headline(cmp)
    html = render_fragment("headline.html.j2", heads=len(cmp.rows), classes=len(cmp.classes),
                           test_videos=len(cmp.test_ids), test_groups=cmp.n_groups, out_of_fold=cmp.out_of_fold,
                           lines=[emphasis(x) for x in lines])  # fmt: skip
    return Rendered(Fragment("headline", None, html), "# framecache comparison\n\n" + bullet_list(lines))


def warnings(inp: ReportInputs, out: Path) -> Rendered:
    problems = inp.cmp.problems
    html = render_fragment("warnings.html.j2", problems=problems)
    return Rendered(Fragment("warnings", None, html), "## Warnings\n\n" + bullet_list(problems) if problems else None)


def comparison(inp: ReportInputs, out: Path) -> Rendered:
    cmp = inp.cmp
    display = tables.display_table(cmp)
    html = render_fragment(
        "comparison.html.j2",
        confidence=f"{100 * cmp.settings['confidence']:g}%",
        repeats=any((r.get("repeats") or 0) > 1 for r in cmp.rows),
        test_videos=len(cmp.test_ids),
        test_groups=cmp.n_groups,
        comparison=table(display, cls="comparison"),
    )
    path = _write_rows(out / layout.COMPARISON_CSV, cmp.rows, COMPARISON_COLUMNS)
    return Rendered(Fragment("comparison", "Comparison", html), markdown_table(display), (path,))


def method(inp: ReportInputs, out: Path) -> Rendered:
    notes = narrative.methods_text(inp.cmp)
    html = render_fragment("method.html.j2", notes=notes)
    return Rendered(Fragment("method", None, html), "## Method\n\n" + bullet_list(notes))


def pairs(inp: ReportInputs, out: Path) -> Rendered:
    """Within-pair accuracy of the configured pairs present in this dataset; no section without any."""
    cmp = inp.cmp
    path = _write_rows(out / layout.PAIRS_CSV, cmp.pair_rows, PAIR_COLUMNS)
    if not cmp.has_pairs:
        return Rendered(Fragment("pairs", None, Markup("")), None, (path,))
    shown = tables.pair_table(cmp)
    html = render_fragment("pairs.html.j2", pairs=table(shown))
    markdown = "## Within-pair accuracy\n\n" + markdown_table(shown)
    return Rendered(Fragment("pairs", "Order-only pairs: within-pair accuracy", html), markdown, (path,))


def per_class(inp: ReportInputs, out: Path) -> Rendered:
    """Per-class test accuracy: every class up to ``confusion.TABLE_ALL``, else the worst and best classes (the
    full table is per_class.csv either way)."""
    cmp = inp.cmp
    heads = [r["head"] for r in cmp.rows]
    scored = [r["head"] for r in cmp.rows if r["status"] == "ok"]
    parts = confusion_tables.worst_and_best(tables.per_class_table(cmp), scored)
    heat = [*heads, "mean over heads"]
    shown = [(title, table(df, heat=heat, cls="per-class", breakable=True)) for title, df in parts]
    html = render_fragment("per_class.html.j2", parts=shown, classes=len(cmp.classes), csv=layout.PER_CLASS_CSV)
    kind = ["kind"] if cmp.has_pairs else []
    columns = ["class", *kind, "test_videos", *scored]
    path = _write_rows(out / layout.PER_CLASS_CSV, cmp.per_class_rows, columns)
    return Rendered(Fragment("per-class", "Per-class test accuracy", html), None, (path,))


def _scored_heads(cmp: Comparison) -> list:
    by_name = {h.name: h for h in cmp.heads}
    return [by_name[r["head"]] for r in cmp.rows if r["status"] == "ok"]


def _train_figure(head, name: str, dest: Path) -> Path | None:
    """The figure train@<head> drew (``plots/<name>``), copied to ``dest``; None when the head has none.

    The train stage draws each head's figures once, so a change to one head re-draws only that head's."""
    src = head.folder / layout.PLOTS_DIR / name if head.folder is not None else None
    if src is None or not src.is_file():
        return None
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def confusion(inp: ReportInputs, out: Path) -> Rendered:
    """Repeat 0's test confusion of every scored head: actual/predicted CSV, the full count matrix as CSV (linked),
    the matrix train@<head> drew, the most confused pairs over all heads and, past ``confusion.PLOT_ALL``
    classes, the chosen head's most confused classes as a shaded table."""
    cmp, files, images, without, matrices = inp.cmp, [], [], [], {}
    for head in _scored_heads(cmp):
        _, y, proba = aligned(head, TEST, cmp.test_ids)
        pred = np.argmax(proba[0], axis=1)
        csv = out / layout.CONFUSION_DIR / f"{head.name}.csv"
        pairs_ = ({"actual": cmp.classes[a], "predicted": cmp.classes[p]} for a, p in zip(y, pred, strict=True))
        write_csv(csv, pairs_, ["actual", "predicted"])
        matrices[head.name] = confusion_tables.counts(y, pred, len(cmp.classes))
        full = out / layout.CONFUSION_DIR / f"{head.name}{MATRIX_SUFFIX}"
        _write_frame(full, confusion_tables.matrix_frame(matrices[head.name], cmp.classes))
        files += [csv, full]
        png = _train_figure(head, layout.CONFUSION_PNG, out / layout.CONFUSION_DIR / f"{head.name}.png")
        if png is None:
            without.append(head.name)
            continue
        files.append(png)
        images.append(image(png, f"confusion matrix of {head.name}", 380, head.name))
    missing = f"{layout.PLOTS_DIR}/{layout.CONFUSION_PNG}"
    html = render_fragment("confusion.html.j2", images=images, without=without, missing_file=missing,
                           links=[(h, f"{layout.CONFUSION_DIR}/{h}{MATRIX_SUFFIX}") for h in matrices],
                           **_confusion_tables(cmp, matrices))  # fmt: skip
    return Rendered(Fragment("confusion", "Confusion matrices (test, repeat 0)", html), None, tuple(files))


def _confusion_tables(cmp: Comparison, matrices: dict[str, np.ndarray]) -> dict:
    """The most confused pairs (over all heads) and, past PLOT_ALL classes, the chosen head's shaded sub-matrix."""
    chosen = cmp.winners[ALL].best if ALL in cmp.winners else None
    chosen = chosen if chosen in matrices else next(iter(matrices), None)
    pairs_ = confusion_tables.pairs_table(matrices, cmp.classes, chosen)
    sub, n = None, len(cmp.classes)
    if chosen is not None and n > confusion_tables.PLOT_ALL:
        m = matrices[chosen]
        keep = confusion_tables.shown_classes(m)
        share = m[np.ix_(keep, keep)] / np.maximum(m[keep].sum(axis=1, keepdims=True), 1)
        frame = pd.DataFrame(share, columns=[cmp.classes[c] for c in keep])
        frame.insert(0, "actual \\ predicted", [cmp.classes[c] for c in keep])
        sub = table(frame, heat=frame.columns[1:].tolist())
    return {"pairs": table(pairs_) if len(pairs_) else None, "chosen": chosen, "sub": sub, "classes": n,
            "sub_size": confusion_tables.PLOT_SHOWN}  # fmt: skip


def curves(inp: ReportInputs, out: Path) -> Rendered:
    """Torch heads: loss per epoch with the restored epoch marked. What validation chose among (a pooled/SVM
    head's grid, a torch head's settings grid): a table (a grid search is not a training curve)."""
    cmp, files, images, shown, grids = inp.cmp, [], [], set(), []
    (out / layout.CURVES_DIR).mkdir(parents=True, exist_ok=True)
    for head in _scored_heads(cmp):
        grid = curve_tables.grid_table(head)
        if grid is not None:
            grids.append((head.name, table(grid)))
            shown.add(head.name)
        if head.grid_search or head.curve is None:
            continue
        png = _train_figure(head, layout.CURVE_PNG, out / layout.CURVES_DIR / f"{head.name}.png")
        if png is not None:
            files.append(png)
            shown.add(head.name)
            images.append(image(png, f"training curve of {head.name}", 580, head.name))
    without = [r["head"] for r in cmp.rows if r["head"] not in shown]
    html = render_fragment("curves.html.j2", images=images, grids=grids, without=without, curve_file=layout.CURVE)
    return Rendered(Fragment("curves", "Training curves and validation grids", html), None, tuple(files))


def _facts(section_id: str, title: str, facts: Facts) -> Rendered:
    content = {
        "missing": facts.missing,
        "facts": facts.facts,
        "tables": [(name, table(df)) for name, df in facts.tables],
    }
    return Rendered(Fragment(section_id, title, render_fragment("facts.html.j2", content=content)))


def dataset(inp: ReportInputs, out: Path) -> Rendered:
    return _facts("dataset", "Dataset", inp.dataset)


def extraction(inp: ReportInputs, out: Path) -> Rendered:
    return _facts("extraction", "Feature extraction", inp.extraction)


Section = Callable[[ReportInputs, Path], Rendered]

SECTIONS: tuple[Section, ...] = (
    headline, warnings, comparison, method, pairs, per_class, confusion, curves, dataset, extraction,
)  # fmt: skip
DIGEST = ("headline", "comparison", "pairs", "method", "warnings")
