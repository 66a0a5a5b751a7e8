"""The comparison the report computes: within-pair accuracy, pairs that are absent or badly configured, the
seeded bootstrap, heads left out, and statistics that match framecache.evaluation.statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from framecache.errors import FramecacheError
from framecache.evaluation import statistics
from framecache.report import markdown, narrative, sections
from framecache.report.comparison import compare
from framecache.report.inputs import Facts
from framecache.report.results import TEST, HeadResult, aligned, load_head_result
from tests.report.train_outputs import CLASSES, HEADS, PAIRS, TWO, comparison_of, params_for, write_fixture


def test_within_pair_accuracy_ignores_other_classes():
    # One zoom_in test video whose overall argmax is "cat" but p(zoom_in) > p(zoom_out): right within the pair.
    classes = CLASSES
    p = np.full(len(classes), 0.01)
    p[classes.index("cat")] = 0.6
    p[classes.index("zoom_in")] = 0.2
    p[classes.index("zoom_out")] = 0.1
    q = np.full(len(classes), 0.01)
    q[classes.index("zoom_in")] = 0.1
    q[classes.index("zoom_out")] = 0.5
    df = pd.DataFrame(
        [{"video_id": "a", "split": "test", "repeat": 0, "label_index": classes.index("zoom_in")},
         {"video_id": "b", "split": "test", "repeat": 0, "label_index": classes.index("zoom_in")},
         {"video_id": "c", "split": "test", "repeat": 0, "label_index": classes.index("cat")}]
    )  # fmt: skip
    probs = pd.DataFrame([p, q, p], columns=[f"p_{c}" for c in classes])
    head = HeadResult("lstm", "lstm", False, False, predictions=pd.concat([df, probs], axis=1))
    cmp = compare([head], classes, PAIRS, n_boot=200, confidence=0.95, seed=0)
    row = cmp.row("lstm")
    assert row["order_pairs"] == pytest.approx(0.5)  # a right within the pair, b wrong
    assert row["top1"] == pytest.approx(1 / 3)  # only c is right overall
    assert row["appearance"] == pytest.approx(1.0)
    zoom = next(r for r in cmp.pair_rows if r["pair"] == "zoom_in / zoom_out")
    assert zoom["test_videos"] == 2 and zoom["accuracy"] == pytest.approx(0.5)
    rot = next(r for r in cmp.pair_rows if r["pair"] == "rotate_cw / rotate_ccw")
    assert rot["status"] == "no test videos"


def test_absent_pairs_are_dropped_with_one_note(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    cmp = comparison_of(dirs, params_for(TWO, class_pairs=[*PAIRS, ["swim", "dive"], ["run", "walk"]]))
    assert not [r for r in cmp.pair_rows if r["pair"] in ("swim / dive", "run / walk")]
    assert [p.label for p in cmp.pairs] == [f"{a} / {b}" for a, b in PAIRS]
    notes = [p for p in cmp.problems if "swim / dive" in p]
    assert notes == ["class pairs of report.class_pairs not in this dataset, left out: swim / dive; run / walk"]
    inputs = sections.ReportInputs(cmp, Facts(), Facts())
    pairs = sections.pairs(inputs, tmp_path / "out")
    assert "swim" not in pairs.fragment.html and "absent" not in pairs.fragment.html
    warnings = sections.warnings(inputs, tmp_path / "out")
    assert warnings.fragment.html.count("swim / dive") == 1 and "## Warnings" in warnings.markdown


def test_no_pair_present_is_a_dataset_without_pairs(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    cmp = comparison_of(dirs, params_for(TWO, class_pairs=[["swim", "dive"]]))
    assert list(cmp.winners) == ["all"] and cmp.other_classes == CLASSES and not cmp.has_pairs
    text = " ".join(narrative.headline(cmp) + narrative.methods_text(cmp))
    assert "order-only" not in text and "appearance" not in text and "the dataset's 10 classes" in text
    assert any("swim / dive" in p for p in cmp.problems)


def test_no_pairs_configured_has_no_pair_section(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    cmp = comparison_of(dirs, params_for(TWO, class_pairs=[]))
    rendered = sections.pairs(sections.ReportInputs(cmp, Facts(), Facts()), tmp_path / "out")
    assert rendered.markdown is None and not rendered.fragment.html.strip()
    assert all(r.get("order_pairs") is None and r.get("appearance") is None for r in cmp.rows)


def test_bad_class_pairs_are_rejected(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    with pytest.raises(FramecacheError, match="names 'cat' twice"):
        comparison_of(dirs, params_for(TWO, class_pairs=[["cat", "cat"]]))
    with pytest.raises(FramecacheError, match="one pair only"):
        comparison_of(dirs, params_for(TWO, class_pairs=[["cat", "coffee"], ["coffee", "rocket"]]))


def test_seed_drives_the_bootstrap(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    a = comparison_of(dirs, params_for(TWO, seed=0)).row("pool_mean")
    b = comparison_of(dirs, params_for(TWO, seed=0)).row("pool_mean")
    c = comparison_of(dirs, params_for(TWO, seed=1)).row("pool_mean")
    assert a == b
    assert a["top1"] == c["top1"] and a["macro_f1"] == c["macro_f1"]
    bounds = ("top1_low", "top1_high", "macro_f1_low", "macro_f1_high", "order_pairs_low", "order_pairs_high")
    assert [a[k] for k in bounds] != [c[k] for k in bounds]


def test_integer_labels_read_like_names(tmp_path):
    a = comparison_of(write_fixture(tmp_path / "a", heads=TWO), params_for(TWO))
    b = comparison_of(write_fixture(tmp_path / "b", heads=TWO, label_as_index=True), params_for(TWO))
    assert a.rows == b.rows


def test_tests_in_the_table_match_statistics(tmp_path):
    dirs = write_fixture(tmp_path, per_class=8)
    heads = [load_head_result(dirs["models"], n, s, CLASSES)[0] for n, (s, _, _) in HEADS.items()]
    cmp = compare(heads, CLASSES, PAIRS, n_boot=300, confidence=0.95, seed=0)
    y = cmp.y_test
    _, _, p_lstm = aligned(heads[3], TEST, cmp.test_ids)
    _, _, p_base = aligned(next(h for h in heads if h.name == cmp.baseline), TEST, cmp.test_ids)
    mc = statistics.mcnemar(p_lstm[0].argmax(1) == y, p_base[0].argmax(1) == y)
    row = cmp.row("lstm")
    assert (row["mcnemar_head_only"], row["mcnemar_baseline_only"], row["mcnemar_p"]) == (
        mc.only_a,
        mc.only_b,
        mc.p_value,
    )
    chance = statistics.above_chance(p_lstm[0].argmax(1) == y, statistics.chance_rate(y, len(CLASSES)))
    assert row["above_chance_p"] == chance.p_value and row["above_chance"] == chance.above
    assert row["chance"] == pytest.approx(0.1)  # ten balanced classes


def test_baseline_is_chosen_on_test_when_no_validation(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    for name in TWO:
        path = dirs["models"] / name / "predictions.csv"
        pred = pd.read_csv(path)
        pred[pred["split"] != "val"].to_csv(path, index=False)
        (dirs["models"] / name / "metrics.json").write_text("{}")
    cmp = comparison_of(dirs, params_for(TWO))
    assert cmp.baseline == "pool_mean"  # the only order-blind pooled head
    assert "no validation predictions: the baseline head was chosen on test" in cmp.problems
    assert "best test top-1" in cmp.baseline_rule
    # the page says plainly that the named heads were chosen on test
    assert all(w.chosen_on == "test" for w in cmp.winners.values())
    assert "chosen on test" in narrative.headline(cmp)[0] and "flatters" in narrative.headline(cmp)[0]


def test_no_order_blind_pooled_head_means_no_baseline(tmp_path):
    heads = {"lstm": HEADS["lstm"], "attention": ({"type": "attention", "positional": False}, 0.9, 0.5)}
    cmp = comparison_of(write_fixture(tmp_path, heads=heads), params_for(heads))
    assert cmp.baseline is None and cmp.baseline_rule.startswith("none:")
    assert all(r.get("delta_top1") is None for r in cmp.rows)
    table = markdown.markdown_table(sections.tables.display_table(cmp))
    assert "attention (order-blind)" in table  # order-blind, yet trained with torch: not a baseline


def test_head_without_test_rows_is_left_out_visibly(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    path = dirs["models"] / "lstm" / "predictions.csv"
    pred = pd.read_csv(path)
    pred[pred["split"] != "test"].to_csv(path, index=False)
    cmp = comparison_of(dirs, params_for(TWO))
    assert cmp.row("lstm")["status"] == "missing" and cmp.row("pool_mean")["status"] == "ok"
    assert "lstm: predictions.csv has no test rows: head left out of the comparison" in cmp.problems


def test_no_usable_head_is_an_error():
    head = HeadResult("lstm", "lstm", False, False, problems=["predictions.csv missing"])
    with pytest.raises(FramecacheError, match="run the train stages first"):
        compare([head], CLASSES, PAIRS, n_boot=10, confidence=0.95, seed=0)
