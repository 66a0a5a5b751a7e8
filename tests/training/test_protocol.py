"""Tests of the honest protocol (train/val only during fit, test scored once after every fit), repeats,
metrics aggregation and the per-head output files."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from framecache import heads
from framecache.compute import cpu_threads
from framecache.errors import FramecacheError
from framecache.evaluation.metrics import METRIC_NAMES, mean_std
from framecache.training import (
    SealedSplit,
    SplitData,
    full_proba,
    run_protocol,
    split_data,
    train_head,
    write_outputs,
)

CLASSES = ["a", "b", "c"]


@pytest.fixture(autouse=True)
def one_thread():
    with cpu_threads(1):
        yield


def dataset(n_per_class=8, k=4, seed=0):
    """ids, X, y, split of mixed-length sequences; per class: 4 train, 2 val, 2 test (beyond 8: train)."""
    rng = np.random.default_rng(seed)
    ids, X, y, split = [], [], [], []
    for c in range(len(CLASSES)):
        for i in range(n_per_class):
            ids.append(f"{CLASSES[c]}/{i}.mp4")
            X.append((rng.normal(size=(int(rng.integers(1, 6)), k)) + 1.5 * c).astype(np.float32))
            y.append(c)
            split.append("val" if i in (4, 5) else "test" if i in (6, 7) else "train")
    return ids, X, np.asarray(y), np.asarray(split)


class SpyHead:
    """Records what the protocol shows it, in order; predicts the class prior."""

    log: ClassVar[list] = []

    def __init__(self, random_state):
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None):
        SpyHead.log.append(("fit", self.random_state, [id(x) for x in X], [id(x) for x in X_val or []]))
        self.classes_ = np.unique(y)
        self.history_ = [{"step": 1, "train_loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5}]
        return self

    def predict_proba(self, X):
        SpyHead.log.append(("predict", self.random_state, [id(x) for x in X]))
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_test_split_is_never_read_during_fit_and_scored_once_per_repeat():
    ids, X, y, split = dataset()
    data = split_data(ids, X, y, split)
    test_ids = {id(x) for x in data["test"].X}
    SpyHead.log = []
    results = run_protocol(SpyHead, data, 3, repeats=3, seed=10)
    fits = [e for e in SpyHead.log if e[0] == "fit"]
    assert [e[1] for e in fits] == [10, 11, 12]  # seeds: seed + repeat
    for _, _, train_seen, val_seen in fits:
        assert not test_ids & set(train_seen) and not test_ids & set(val_seen)
        assert set(train_seen) == {id(x) for x in data["train"].X}
        assert set(val_seen) == {id(x) for x in data["val"].X}
    test_reads = [i for i, e in enumerate(SpyHead.log) if e[0] == "predict" and test_ids & set(e[2])]
    last_fit = max(i for i, e in enumerate(SpyHead.log) if e[0] == "fit")
    assert len(test_reads) == 3 and min(test_reads) > last_fit  # once per head, after every fit
    assert all(set(SpyHead.log[i][2]) == test_ids for i in test_reads)
    assert [r.repeat for r in results] == [0, 1, 2]


def test_sealed_split_refuses_reads_until_unsealed():
    part = SplitData(["v"], [np.zeros((1, 2), np.float32)], np.array([0]))
    sealed = SealedSplit(part)
    with pytest.raises(RuntimeError, match="before fitting finished"):
        _ = sealed.data
    assert sealed.unseal() is part and sealed.data is part


def test_split_data_requires_train_and_test():
    ids, X, y, split = dataset()
    with pytest.raises(FramecacheError, match="no test videos"):
        split_data(ids, X, y, np.where(split == "test", "train", split))
    with pytest.raises(FramecacheError, match="unknown split"):
        split_data(ids, X, y, np.where(split == "test", "holdout", split))
    parts = split_data(ids, X, y, np.where(split == "val", "train", split))
    assert len(parts["val"]) == 0 and len(parts["train"]) == 18


def test_full_proba_spreads_columns_over_all_classes():
    X = [np.zeros((2, 3), np.float32) + i for i in range(6)]
    y = np.array([0, 0, 0, 2, 2, 2])  # class 1 never seen in train
    head = heads.build_head({"type": "pooled", "C_grid": [1.0]}, random_state=0).fit(X, y)
    p = full_proba(head, X, 3)
    assert p.shape == (6, 3) and np.all(p[:, 1] == 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "config",
    [{"type": "pooled", "pooling": "maxmin", "C_grid": [0.1, 1.0]},
     {"type": "gru", "hidden": 8, "max_epochs": 6, "patience": 3, "lr": 0.03, "max_len": 3}],
    ids=["pooled", "gru"],
)  # fmt: skip
def test_train_head_outputs(tmp_path, config):
    ids, X, y, split = dataset()
    result = train_head("h", config, ids, X, y, split, CLASSES, repeats=2, seed=0, device="cpu")
    write_outputs(result, tmp_path)
    torch_head = config["type"] == "gru"
    assert {p.name for p in tmp_path.iterdir()} == {"model.pkl", "predictions.csv", "metrics.json", "selection.csv",
                                                    "plots"}  # fmt: skip
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert plots == ({"confusion.png", "curve.csv", "curve.png"} if torch_head else {"confusion.png"})

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["evaluation"] == "holdout" and "folds" not in metrics
    for split_name in ("test", "val"):
        for name in METRIC_NAMES:
            assert np.isfinite(metrics[f"{split_name}_{name}"]) and metrics[f"{split_name}_{name}_std"] >= 0
    per_repeat = [r.metrics["test"]["top1"] for r in result.repeats]
    assert metrics["test_top1"] == pytest.approx(np.mean(per_repeat))
    assert (metrics["test_top1"], metrics["test_top1_std"]) == pytest.approx(mean_std(per_repeat))  # ddof=1
    assert metrics["test_top1_std"] == pytest.approx(np.std(per_repeat, ddof=1))
    assert metrics["repeats"] == 2 and metrics["test_videos"] == 6 and metrics["val_videos"] == 6
    assert metrics["parameters"] == result.repeats[0].head.n_parameters_ > 0
    assert metrics["fit_seconds"] > 0 and metrics["inference_ms_per_video"] > 0
    expected_truncated = sum(len(x) > 3 for x in X) if "max_len" in config else 0
    assert metrics["truncated_videos"] == expected_truncated
    first = result.repeats[0].head
    assert metrics["selected"] == {k: float(v) for k, v in {**first.best_params_, **(
        {"epoch": first.best_epoch_, "epochs_run": len(first.history_)} if torch_head else {})}.items()}  # fmt: skip

    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert list(pred.columns) == ["video_id", "split", "repeat", "label", "predicted", "p_a", "p_b", "p_c"]
    assert len(pred) == 2 * 12 and set(pred["split"]) == {"val", "test"}
    np.testing.assert_allclose(pred[["p_a", "p_b", "p_c"]].sum(axis=1), 1.0, atol=1e-6)
    first_test = pred[(pred["split"] == "test") & (pred["repeat"] == 0)]
    assert list(first_test["video_id"]) == [i for i, s in zip(ids, split, strict=True) if s == "test"]
    assert list(first_test["label"]) == [CLASSES[c] for c, s in zip(y, split, strict=True) if s == "test"]

    # model.pkl is repeat 0's head and reproduces its test probabilities
    model = heads.load_head(tmp_path / "model.pkl")
    test_X = [x for x, s in zip(X, split, strict=True) if s == "test"]
    np.testing.assert_allclose(model.predict_proba(test_X), first_test[["p_a", "p_b", "p_c"]], atol=1e-8)

    # selection.csv: every candidate of every repeat, exactly one chosen per repeat, the one in metrics
    selection = pd.read_csv(tmp_path / "selection.csv")
    grid_keys = ["hidden", "dropout", "weight_decay"] if torch_head else ["C"]
    scores = ["train_loss", "val_loss", "val_accuracy", *(["epoch", "epochs_run"] if torch_head else [])]
    assert list(selection.columns) == ["repeat", "fold", "step", *grid_keys, *scores, "chosen"]
    assert len(selection) == 2 * len(first.grid_) and selection.groupby("repeat")["chosen"].sum().tolist() == [1, 1]
    chosen = selection[(selection["repeat"] == 0) & (selection["chosen"] == 1)].iloc[0]
    assert {k: chosen[k] for k in grid_keys} == pytest.approx(first.best_params_)

    if torch_head:  # a real curve: every epoch of every repeat, the restored one marked
        curve = pd.read_csv(tmp_path / "plots" / "curve.csv")
        assert list(curve.columns) == ["repeat", "step", "train_loss", "val_loss", "val_accuracy", "restored"]
        assert set(curve["repeat"]) == {0, 1} and len(curve) == sum(len(r.head.history_) for r in result.repeats)
        restored = curve[curve["restored"] == 1]
        assert list(restored["step"]) == [r.head.best_epoch_ for r in result.repeats]


def test_pooled_head_curve_rows_are_never_written_as_a_curve(tmp_path):
    ids, X, y, split = dataset()
    result = train_head("h", {"type": "svm", "C_grid": [0.1, 1.0]}, ids, X, y, split, CLASSES, device="cpu")
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "curve.csv").write_text("stale")  # left by an earlier torch configuration
    write_outputs(result, tmp_path)
    assert not (tmp_path / "plots" / "curve.csv").exists() and not (tmp_path / "plots" / "curve.png").exists()
    assert list(pd.read_csv(tmp_path / "selection.csv")["C"]) == [0.1, 1.0]


def test_two_runs_give_identical_metrics():
    ids, X, y, split = dataset(seed=3)
    config = {"type": "lstm", "hidden": 8, "max_epochs": 5, "patience": 2}
    a = train_head("h", config, ids, X, y, split, CLASSES, seed=4, device="cpu")
    b = train_head("h", config, ids, X, y, split, CLASSES, seed=4, device="cpu")
    np.testing.assert_array_equal(a.repeats[0].proba["test"], b.repeats[0].proba["test"])
    sa, sb = a.summary(), b.summary()
    for key in ("test_log_loss", "val_log_loss", "test_top1"):
        assert sa[key] == sb[key]


def test_without_validation_split_the_head_holds_out_part_of_train(tmp_path):
    ids, X, y, split = dataset()
    split = np.where(split == "val", "train", split)
    result = train_head("h", {"type": "pooled", "C_grid": [0.1, 1.0]}, ids, X, y, split, CLASSES, seed=0)
    write_outputs(result, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "val_top1" not in metrics and np.isfinite(metrics["test_top1"])
    assert set(pd.read_csv(tmp_path / "predictions.csv")["split"]) == {"test"}
