"""Heads the report names are chosen on validation, families of tests are Holm-corrected, intervals respect the
test set's groups, and a grid search is a table while a torch head's curve marks its restored epoch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from framecache import layout
from framecache.evaluation import intervals
from framecache.heads import build_head
from framecache.report import curves, narrative
from framecache.report.results import TEST, HeadResult, aligned, load_head_result
from tests.report.train_outputs import CLASSES, HEADS, TWO, comparison_of, params_for, write_fixture


def _set_val(path, correct: bool) -> None:
    """Make a head's validation predictions all right (one-hot on the label) or all wrong (on another class)."""
    pred = pd.read_csv(path)
    val = pred["split"] == "val"
    cols = [layout.probability_column(c) for c in CLASSES]
    for i in np.flatnonzero(val):
        target = CLASSES.index(pred.at[i, "label"])
        target = target if correct else (target + 1) % len(CLASSES)
        pred.loc[i, cols] = np.eye(len(CLASSES))[target]
    pred.to_csv(path, index=False)


def test_winner_is_chosen_on_validation_not_test(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO, per_class=8)
    _set_val(dirs["models"] / "pool_mean" / layout.PREDICTIONS, correct=True)
    _set_val(dirs["models"] / "lstm" / layout.PREDICTIONS, correct=False)
    cmp = comparison_of(dirs, params_for(TWO))
    assert cmp.row("lstm")["top1"] > cmp.row("pool_mean")["top1"]  # lstm is better on test...
    overall = cmp.winners["all"]
    assert overall.best == "pool_mean" and overall.chosen_on == "validation"  # ...but validation chose pool_mean
    assert overall.better == ["lstm"]  # and the page says that the choice was beaten on test
    line = narrative.headline(cmp)[2]
    assert "**pool_mean** (chosen on validation top-1)" in line and "significantly better on test" in line


def test_holm_columns_and_decisions(tmp_path):
    dirs = write_fixture(tmp_path, per_class=4)
    cmp = comparison_of(dirs, params_for())
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    for key in ("above_chance_p", "delta_top1_p", "mcnemar_p"):
        want = intervals.holm([r.get(key) for r in scored])
        assert [r.get(f"{key}_holm") for r in scored] == pytest.approx(want, nan_ok=True), key
        assert all(r[f"{key}_holm"] >= r[key] for r in scored if r.get(key) is not None)
    assert all(r["above_chance"] == (r["above_chance_p_holm"] < 0.05) for r in scored)
    w = cmp.winners["pairs"]
    others = [h for h in HEADS if h != w.best]
    assert set(w.adjusted_p) == set(others)
    assert set(w.tied) == {h for h, p in w.adjusted_p.items() if p >= 0.05}


def test_groups_widen_intervals_and_make_mcnemar_a_group_test(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO, per_class=8)
    params = params_for(TWO)
    grouped = comparison_of(dirs, params)
    manifest = pd.read_csv(dirs["prepared"] / layout.MANIFEST)
    manifest.drop(columns="group").to_csv(dirs["prepared"] / layout.MANIFEST, index=False)
    iid = comparison_of(dirs, params)
    assert iid.n_groups == len(iid.test_ids) == 80 and grouped.n_groups == 56  # a clip and its reversal: one group
    g, i = grouped.row("lstm"), iid.row("lstm")
    assert (g["test_videos"], g["test_groups"]) == (80, 56)
    assert g["top1_low"] <= i["top1_low"] and g["top1_high"] >= i["top1_high"]
    head = load_head_result(dirs["models"], "lstm", TWO["lstm"][0], CLASSES)[0]
    _, y, proba = aligned(head, TEST, iid.test_ids)
    k = int(np.sum(proba[0].argmax(1) == y))
    assert (i["top1_low"], i["top1_high"]) == pytest.approx(intervals.exact_interval(k, len(y), 0.95))
    assert g["mcnemar_head_only"] + g["mcnemar_baseline_only"] <= i["mcnemar_head_only"] + i["mcnemar_baseline_only"]


def test_grid_heads_show_their_grid_and_torch_heads_their_restored_epoch(tmp_path):
    heads = {**TWO, "svm_rbf": ({"type": "svm", "kernel": "rbf"}, 0.9, 0.5)}
    dirs = write_fixture(tmp_path, heads=heads)
    res = {n: load_head_result(dirs["models"], n, spec, CLASSES)[0] for n, (spec, _, _) in heads.items()}
    assert res["pool_mean"].grid_search and res["svm_rbf"].grid_search and not res["lstm"].grid_search
    table = curves.grid_table(res["svm_rbf"])
    assert list(table.columns) == ["C", "γ", "validation accuracy", "validation loss", "chosen"]
    assert len(table) == 15 and (table["chosen"] == "✓").sum() == 1  # 5 C × 3 γ (the defaults)
    chosen = table[table["chosen"] == "✓"].iloc[0]
    assert {"C": float(chosen["C"]), "gamma": float(chosen["γ"])} == res["svm_rbf"].metrics["selected"]
    pooled = curves.grid_table(res["pool_mean"])
    assert list(pooled.columns) == ["C", "validation accuracy", "validation loss", "chosen"]
    epoch = curves.restored_epoch(res["lstm"])
    assert epoch == res["lstm"].metrics["selected"]["epoch"] and 1 <= epoch <= 8


def test_rebuilt_grid_matches_the_order_the_head_tries_it():
    for config in ({"type": "svm", "kernel": "rbf", "C_grid": [0.1, 1.0], "gamma_grid": [0.5, 2.0]},
                   {"type": "svm", "kernel": "linear"}, {"type": "pooled", "C_grid": [0.01, 1.0, 100.0]}):  # fmt: skip
        res = HeadResult("h", config["type"], True, True, config=config)
        assert curves._grid_points(res) == build_head(config, 0)._candidates(8)


def test_selection_csv_and_plots_curve_are_read_when_the_train_stage_writes_them(tmp_path):
    # a train stage that records its candidates in selection.csv and a torch head's curve under plots/
    dirs = write_fixture(tmp_path, heads=TWO)
    pool, lstm = dirs["models"] / "pool_mean", dirs["models"] / "lstm"
    for old in (pool / "curve.csv", pool / "plots" / "curve.csv", pool / "selection.csv"):
        old.unlink(missing_ok=True)
    pd.DataFrame({"repeat": 0, "fold": "", "step": [0, 1, 2], "C": [0.1, 1.0, 10.0], "train_loss": 0.5,
                  "val_loss": [0.9, 0.7, 0.8], "val_accuracy": [0.6, 0.8, 0.7], "chosen": [0, 1, 0]}).to_csv(
        pool / "selection.csv", index=False)  # fmt: skip
    written = next(p for p in (lstm / "plots" / "curve.csv", lstm / "curve.csv") if p.is_file())
    curve = pd.read_csv(written).assign(restored=lambda d: (d["step"] == 3).astype(int))
    written.unlink()
    (lstm / "plots").mkdir(exist_ok=True)
    curve.to_csv(lstm / "plots" / "curve.csv", index=False)
    pd.DataFrame({"repeat": 0, "fold": "", "step": [0, 1], "dropout": [0.1, 0.5], "epoch": [3, 5],
                  "train_loss": 0.4, "val_loss": [0.6, 0.7], "val_accuracy": [0.9, 0.8], "chosen": [1, 0]}).to_csv(
        lstm / "selection.csv", index=False)  # fmt: skip
    res = {n: load_head_result(dirs["models"], n, spec, CLASSES)[0] for n, (spec, _, _) in TWO.items()}
    pooled = curves.grid_table(res["pool_mean"])
    assert list(pooled.columns) == ["C", "validation accuracy", "validation loss", "chosen"]
    assert list(pooled["chosen"]) == ["", "✓", ""] and list(pooled["C"]) == ["0.1", "1", "10"]
    torch_grid = curves.grid_table(res["lstm"])
    assert list(torch_grid.columns)[:2] == ["dropout", "restored epoch"] and list(torch_grid["chosen"]) == ["✓", ""]
    assert curves.restored_epoch(res["lstm"]) == 3
    assert not res["pool_mean"].problems and not res["lstm"].problems


def test_group_kfold_outputs_are_said_to_be_out_of_fold_and_chosen_on_mean_validation(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    for name, val_top1 in (("pool_mean", 0.9), ("lstm", 0.7)):
        folder = dirs["models"] / name
        pred = pd.read_csv(folder / layout.PREDICTIONS)
        pred[pred["split"] == "test"].assign(fold=0).to_csv(folder / layout.PREDICTIONS, index=False)
        metrics = json.loads((folder / layout.METRICS).read_text())
        metrics.update(evaluation="group_kfold", folds=4, val_top1=val_top1)
        (folder / layout.METRICS).write_text(json.dumps(metrics))
    cmp = comparison_of(dirs, params_for(TWO))
    assert cmp.out_of_fold and "out of fold" in cmp.out_of_fold and "4 folds" in cmp.out_of_fold
    assert cmp.winners["all"].best == "pool_mean" and cmp.winners["all"].chosen_on == "validation"
    assert cmp.winners["pairs"].chosen_on == "test"  # no per-video validation: the page says so
    assert "out of fold" in narrative.methods_text(cmp)[0]
