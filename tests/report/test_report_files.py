"""A whole report built from fixture train outputs: every head, column, section and file is there, the page is
self-contained and escaped, the digest follows its sections, and the same inputs give the same bytes."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from framecache import layout
from framecache.report.build import build_report
from framecache.report.sections import COMPARISON_COLUMNS, DIGEST, SECTIONS
from tests.report.train_outputs import CLASSES, HEADS, STORE, TWO, build, params_for, write_fixture


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One full report of five heads, two repeats, 8 test videos per class (plots are the slow part)."""
    return build(tmp_path_factory.mktemp("full"), repeats=2, per_class=8)


def test_report_has_every_head_column_and_file(full):
    summary, out, dirs = full
    comparison = pd.read_csv(out / layout.COMPARISON_CSV)
    assert list(comparison.columns) == COMPARISON_COLUMNS
    assert list(comparison["head"]) == list(HEADS)
    for col in ("top1", "top1_low", "top1_high", "top1_std", "top5", "mean_class_accuracy", "macro_f1",
                "above_chance_p", "order_pairs", "appearance", "fit_seconds", "inference_ms_per_video",
                "parameters"):  # fmt: skip
        assert comparison[col].notna().all(), col
    assert (comparison["top1_low"] <= comparison["top1"]).all()
    assert (comparison["top1"] <= comparison["top1_high"]).all()
    # every head but the baseline is compared with it
    base = comparison.loc[comparison["baseline"] == "(this head)", "head"].tolist()
    val_top1 = {}
    for name in ("pool_mean", "svm_linear"):  # the order-blind pooled heads: chosen on validation accuracy
        pred = pd.read_csv(dirs["models"] / name / layout.PREDICTIONS)
        val = pred[pred["split"] == "val"]
        val_top1[name] = (val["label"] == val["predicted"]).mean()
    assert val_top1["pool_mean"] != val_top1["svm_linear"]
    assert base == [max(val_top1, key=val_top1.get)]
    others = comparison[comparison["head"] != base[0]]
    assert others["mcnemar_p"].between(0, 1).all() and (others["baseline"] == base[0]).all()
    assert others["delta_top1"].notna().all()

    md = (out / layout.COMPARISON_MD).read_text()
    page = (out / layout.REPORT_HTML).read_text()
    header = next(line for line in md.splitlines() if line.startswith("| head |"))
    for name in HEADS:
        assert f"| {name}" in md
        assert name in page
        assert (out / layout.CONFUSION_DIR / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for title in ("top-1", "top-5", "mean class acc.", "macro-F1", "log-loss", "above chance", "McNemar p",
                  "fit s", "ms/video", "parameters", "Δ top-1 vs baseline"):  # fmt: skip
        assert f"| {title} |" in header
        assert f"<th>{title}</th>" in page
    for section in ("Comparison", "Order-only pairs", "Per-class", "Confusion matrices", "Training curves",
                    "Dataset", "Feature extraction", "Videos per class and split", "Files left out by prepare",
                    "frames per second", "broken.mp4"):  # fmt: skip
        assert section in page

    per_class = pd.read_csv(out / layout.PER_CLASS_CSV)
    assert list(per_class["class"]) == CLASSES
    assert list(per_class.columns) == ["class", "kind", "test_videos", *HEADS]
    assert (per_class["test_videos"] == 8).all()
    assert per_class.set_index("class").loc["zoom_out", "kind"] == "pair zoom_in / zoom_out"

    assert summary["best_head"] in HEADS
    assert set(summary["heads"]) == set(HEADS)
    assert json.loads((out / layout.SUMMARY).read_text()) == summary


def test_page_has_the_sections_in_order(full):
    _, out, _ = full
    page = (out / layout.REPORT_HTML).read_text()
    ids = re.findall(r'<h2 id="([^"]+)">', page)
    assert ids == ["comparison", "pairs", "per-class", "confusion", "curves", "dataset", "extraction"]
    # the boxes without a heading: the headline first, the method notes right under the comparison table
    assert page.index('class="headline"') < page.index('id="comparison"')
    assert (
        page.index('id="comparison"')
        < page.index("Intervals (95%) over 80 test videos in 56 groups")
        < page.index('id="pairs"')
    )
    assert [s.__name__ for s in SECTIONS][:2] == ["headline", "warnings"]


def test_digest_follows_its_sections(full):
    _, out, _ = full
    md = (out / layout.COMPARISON_MD).read_text()
    assert md.startswith("# framecache comparison\n\n- On the order-only pairs")
    assert "(chosen on test" not in md  # every named head was chosen on validation
    assert md.index("| head |") < md.index("## Within-pair accuracy") < md.index("## Method")
    assert "## Warnings" not in md  # the fixture has no problem to warn about
    assert md.endswith(".\n") and "\n\n\n" not in md
    assert DIGEST == ("headline", "comparison", "pairs", "method", "warnings")


def test_confusion_csv_is_actual_predicted_of_repeat_0(full):
    _, out, dirs = full
    pred = pd.read_csv(dirs["models"] / "lstm" / layout.PREDICTIONS)
    want = pred[(pred["split"] == "test") & (pred["repeat"] == 0)].sort_values("video_id")
    conf = pd.read_csv(out / layout.CONFUSION_DIR / "lstm.csv")
    assert list(conf.columns) == ["actual", "predicted"]
    assert list(conf["actual"]) == list(want["label"])
    assert list(conf["predicted"]) == list(want["predicted"])


def test_curves_for_torch_heads_and_grids_as_tables(full):
    _, out, _ = full
    assert (out / layout.CURVES_DIR / "lstm.png").is_file()
    assert (out / layout.CURVES_DIR / "transformer.png").is_file()
    assert not (out / layout.CURVES_DIR / "pool_mean.png").exists()  # a grid search is not drawn as a curve
    page = (out / layout.REPORT_HTML).read_text()
    curves = page[page.index('id="curves"') : page.index('id="dataset"')]
    assert "the dashed line marks the epoch whose weights were restored" in curves
    for grid_head in ("pool_mean", "svm_linear", "pool_delta"):
        assert f"<h3>{grid_head}</h3>" in curves
    assert curves.count("✓") == 3 and "<th>C</th>" in curves and "<th>validation accuracy</th>" in curves
    assert "No curve or grid" not in curves


def test_headline_names_order_and_appearance_winners_with_cis(full):
    summary, out, _ = full
    cmp_rows = pd.read_csv(out / layout.COMPARISON_CSV).set_index("head")
    # order-blind heads sit near 50% within pairs; lstm is perfect there
    assert cmp_rows.loc["lstm", "order_pairs"] == 1.0
    assert cmp_rows.loc["pool_mean", "order_pairs_high"] < 0.8
    assert summary["order_pairs_best_head"] == "lstm"
    md = (out / layout.COMPARISON_MD).read_text()
    order_line = next(line for line in md.splitlines() if "order-only pairs" in line and "chosen on" in line)
    assert "**lstm** (chosen on validation within-pair accuracy)" in order_line
    assert "scores 100.0% [92.6, 100.0]" in order_line  # exact, never [100.0, 100.0]
    tied = order_line.split("Best order-blind")[0]
    assert "pool_mean" not in tied and "svm_linear" not in tied
    assert re.search(
        r"Best order-blind head here \(chosen the same way\): (pool_mean|svm_linear), \d+\.\d% \[", order_line
    )
    app_line = next(line for line in md.splitlines() if "appearance classes" in line and "chosen on" in line)
    assert re.search(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", app_line)
    assert "above chance" in md
    # the page shows the same sentence, its Markdown emphasis as bold
    assert "<strong>lstm</strong> (chosen on validation" in (out / layout.REPORT_HTML).read_text()


def test_repeat_means_match_the_train_stage_metrics(full):
    _, out, dirs = full
    comparison = pd.read_csv(out / layout.COMPARISON_CSV).set_index("head")
    metrics = json.loads((dirs["models"] / "lstm" / layout.METRICS).read_text())
    # same definitions as the train stage's metrics.json
    for m in ("top1", "top5", "mean_class_accuracy", "macro_f1", "log_loss"):
        assert comparison.loc["lstm", m] == pytest.approx(metrics[f"test_{m}"], abs=1e-5), m
        assert comparison.loc["lstm", f"{m}_std"] == pytest.approx(metrics[f"test_{m}_std"], abs=1e-5), m
    assert comparison.loc["lstm", "repeats"] == 2
    assert "±" in (out / layout.COMPARISON_MD).read_text()


def test_html_is_self_contained(full):
    """Images are embedded; links (the full confusion matrices) point at files beside the page, never out."""
    _, out, _ = full
    page = (out / layout.REPORT_HTML).read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    links = re.findall(r'href="([^"]*)"', page)
    assert sorted(links) == sorted(f"{layout.CONFUSION_DIR}/{h}.matrix.csv" for h in HEADS)
    assert all((out / link).is_file() for link in links)
    assert "http://" not in page and "https://" not in page
    assert page.count("<img") == len(HEADS) + 2  # confusion matrices + two trained nets' curves


def test_per_class_cells_are_a_heat_map(full):
    _, out, _ = full
    page = (out / layout.REPORT_HTML).read_text()
    per_class = pd.read_csv(out / layout.PER_CLASS_CSV).set_index("class")
    shade = f"{97 - 42 * per_class.loc['cat', 'lstm']:.0f}"
    assert f'<td class="num" style="background:hsl(130,55%,{shade}%)">' in page


def test_missing_head_outputs_are_visible_not_fatal(tmp_path):
    heads = {"lstm": HEADS["lstm"], "transformer": HEADS["transformer"]}
    dirs = write_fixture(tmp_path / "in", heads=heads)
    (dirs["models"] / "transformer" / layout.PREDICTIONS).unlink()
    (dirs["features"] / layout.METRICS).unlink()
    out = tmp_path / "report"
    build_report(params_for(heads), dirs["prepared"], dirs["features"], tmp_path / "nope.h5", dirs["models"], out)
    comparison = pd.read_csv(out / layout.COMPARISON_CSV).set_index("head")
    assert comparison.loc["transformer", "status"] == "missing"
    assert np.isnan(comparison.loc["transformer", "top1"])
    assert comparison.loc["lstm", "status"] == "ok"
    page = (out / layout.REPORT_HTML).read_text()
    assert "transformer: predictions.csv missing" in page
    assert "transformer (missing)" in page
    # the store and extraction metrics were never written: the section says so instead of vanishing
    assert "feature store provenance unavailable" in page and "nope.h5" in page
    assert f"{dirs['features'] / layout.METRICS} not found" in page
    assert not (out / layout.CONFUSION_DIR / "transformer.csv").exists()
    md = (out / layout.COMPARISON_MD).read_text()
    assert md.index("## Method") < md.index("## Warnings") and "- transformer: predictions.csv missing" in md


def test_head_names_are_escaped_in_the_page(tmp_path):
    name = "lstm<b>&co"
    heads = {"pool_mean": HEADS["pool_mean"], name: HEADS["lstm"]}
    _, out, _ = build(tmp_path, heads=heads, per_class=3)
    page = (out / layout.REPORT_HTML).read_text()
    assert "<b>&co" not in page
    assert "lstm&lt;b&gt;&amp;co" in page


def test_report_is_deterministic(tmp_path):
    _, out1, _ = build(tmp_path / "one", heads=TWO, per_class=3)
    _, out2, _ = build(tmp_path / "two", heads=TWO, per_class=3)
    for name in (layout.COMPARISON_CSV, layout.COMPARISON_MD, layout.PAIRS_CSV, layout.PER_CLASS_CSV,
                 layout.SUMMARY, layout.REPORT_HTML):  # fmt: skip
        # the (missing) store's path is named in the page and differs between the two folders
        one = (out1 / name).read_text().replace(str(tmp_path / "one"), "")
        assert one == (out2 / name).read_text().replace(str(tmp_path / "two"), ""), name
    for png in (f"{layout.CONFUSION_DIR}/lstm.png", f"{layout.CURVES_DIR}/lstm.png"):
        assert (out1 / png).read_bytes() == (out2 / png).read_bytes(), png


def test_report_for_a_dataset_without_pairs_has_no_demo_wording(tmp_path):
    classes = ["walk", "run", "jump", "wave"]
    heads = {"pool_mean": HEADS["pool_mean"], "lstm": HEADS["lstm"]}
    dirs = write_fixture(tmp_path / "in", heads=heads, classes=classes, per_class=4)
    params = params_for(heads, class_pairs=[])
    out = tmp_path / "report"
    summary = build_report(params, dirs["prepared"], dirs["features"], tmp_path / "no.h5", dirs["models"], out)
    page, md = (out / layout.REPORT_HTML).read_text(), (out / layout.COMPARISON_MD).read_text()
    for text in (page, md):
        lowered = text.lower()
        assert "order-only" not in lowered and "appearance" not in lowered
        assert not re.search(r"\bpairs?\b", lowered)  # "paired bootstrap" is a method, not a class pair
        assert "top-5" not in text  # 4 classes: top-5 is 100% by construction
    assert "the dataset's 4 classes (walk, run, jump, wave), 16 test videos in 16 groups" in md
    assert 'id="pairs"' not in page
    comparison = pd.read_csv(out / layout.COMPARISON_CSV)
    assert comparison["top5"].isna().all() and comparison["order_pairs"].isna().all()
    assert "kind" not in pd.read_csv(out / layout.PER_CLASS_CSV).columns
    assert "order_pairs_best_head" not in summary and summary["best_head_chosen_on"] == "validation"


def test_no_perfect_score_has_a_zero_width_interval(full):
    _, out, _ = full
    comparison = pd.read_csv(out / layout.COMPARISON_CSV)
    for m in ("top1", "top5", "mean_class_accuracy", "macro_f1", "order_pairs", "appearance"):
        assert (comparison[f"{m}_high"] - comparison[f"{m}_low"] > 0.01).all(), m
    pairs = pd.read_csv(out / layout.PAIRS_CSV)
    assert (pairs["high"] - pairs["low"] > 0.05).all()
    assert ((pairs["accuracy"] == 1.0) <= (pairs["low"] < 0.85)).all()


def test_report_assembles_the_figures_each_train_stage_drew(full, tmp_path):
    """The report copies train@<head>'s own figures (it never redraws them), and names a head whose figure is
    missing instead of failing."""
    _, out, dirs = full
    for name in HEADS:
        drawn = dirs["models"] / name / layout.PLOTS_DIR / layout.CONFUSION_PNG
        assert (out / layout.CONFUSION_DIR / f"{name}.png").read_bytes() == drawn.read_bytes()
    curve = dirs["models"] / "lstm" / layout.PLOTS_DIR / layout.CURVE_PNG
    assert (out / layout.CURVES_DIR / "lstm.png").read_bytes() == curve.read_bytes()

    models = tmp_path / "models"
    shutil.copytree(dirs["models"], models)
    (models / "lstm" / layout.PLOTS_DIR / layout.CONFUSION_PNG).unlink()
    again = tmp_path / "report"
    store = dirs["features"] / STORE
    build_report(params_for(None), dirs["prepared"], dirs["features"], store, models, again)
    page = (again / layout.REPORT_HTML).read_text()
    section = page[page.index('id="confusion"') : page.index('id="curves"')]
    assert "from the train stage (re-run it): lstm" in section
    assert section.count("<img") == len(HEADS) - 1
