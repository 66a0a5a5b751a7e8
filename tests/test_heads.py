"""Tests of the head registry and every head type: the estimator contract on tiny sequences, T = 1 and mixed
lengths, determinism, persistence, padding invariance, and the order task (a sequence vs its reversal)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from sklearn.base import clone

from framecache import heads
from framecache.config.params import Field, ParamsError, load_params
from framecache.errors import FramecacheError
from framecache.heads.base import count_truncated, even_subsample, holdout
from framecache.heads.pooling import is_order_invariant, pool, pool_one
from framecache.training import cpu_threads

ROOT = Path(__file__).resolve().parents[1]
TYPES = heads.head_types()
TORCH_TYPES = [t for t in TYPES if t in heads.TEMPORAL_TYPES]

# Small, fast settings per type: the contract does not depend on model size.
_QUICK = {"max_epochs": 8, "patience": 3, "lr": 0.03, "dropout": 0.0, "input_dropout": 0.0}
FAST = {
    "pooled": {"C_grid": [0.1, 1.0]},
    "svm": {"C_grid": [0.1, 1.0], "gamma_grid": [1.0], "kernel": "rbf", "calibration_folds": 2},
    "rnn": {"hidden": 8, **_QUICK},
    "lstm": {"hidden": 8, "bidirectional": True, **_QUICK},
    "gru": {"hidden": 8, "readout": "mean", "layers": 2, **_QUICK},
    "attention": {"hidden": 8, "attention_hidden": 4, **_QUICK},
    "transformer": {"hidden": 8, "num_heads": 2, "feedforward": 16, **_QUICK},
}


def fast(kind: str, **extra) -> dict:
    return {"type": kind, **FAST[kind], **extra}


def tiny(n_per_class=6, k=5, classes=3, lengths=(1, 7), seed=0, labels=None):
    """Mixed-length sequences (T = 1 included) whose class shifts the mean."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(classes):
        for i in range(n_per_class):
            T = lengths[0] if i == 0 else int(rng.integers(lengths[0], lengths[1] + 1))
            X.append((rng.normal(size=(T, k)) + 2.0 * c).astype(np.float32))
            y.append(c if labels is None else labels[c])
    return X, np.asarray(y)


@pytest.fixture(autouse=True)
def one_thread():
    # as the train stage does: tiny models on a shared 2-core machine run fastest single-threaded
    with cpu_threads(1):
        yield


# ------------------------------------------------------------------------------------------------ registry


def test_registry_lists_every_type_sorted():
    assert TYPES == ["attention", "gru", "lstm", "pooled", "rnn", "svm", "transformer"]
    for kind in TYPES:
        schema = heads.head_param_schema(kind)
        assert schema and all(isinstance(f, Field) for f in schema.values())
        assert "type" not in schema


def test_unknown_type_lists_valid_ones():
    with pytest.raises(FramecacheError, match=r"'lstmm'.*did you mean 'lstm'.*attention, gru, lstm, pooled"):
        heads.build_head({"type": "lstmm"}, random_state=0)
    with pytest.raises(FramecacheError, match="valid types"):
        heads.head_param_schema("nope")


def test_build_head_rejects_unknown_setting_and_fills_defaults():
    with pytest.raises(ParamsError, match="hiden"):
        heads.build_head({"type": "lstm", "hiden": 3}, random_state=0)
    head = heads.build_head({"type": "gru"}, random_state=7, device="cpu")
    defaults = {k: f.default for k, f in heads.head_param_schema("gru").items()}
    params = head.get_params()
    assert params["random_state"] == 7 and params["device"] == "cpu"
    assert {k: params[k] for k in defaults} == defaults


def test_params_yaml_writes_every_setting_of_every_head():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["heads"]
    for name, entry in raw.items():
        missing = set(heads.head_param_schema(entry["type"])) - set(entry)
        assert not missing, f"heads.{name} leaves {sorted(missing)} implicit"
    load_params(ROOT / "params.yaml")  # and the file validates


def test_registry_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, framecache.heads as h; h.head_param_schema('lstm'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------ pooling


def test_pooling_values_and_delta_edge_cases():
    x = np.array([[0.0, 5.0], [1.0, 3.0], [4.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(pool_one(x, "mean"), [5 / 3, 4.0], rtol=1e-6)
    np.testing.assert_array_equal(pool_one(x, "maxmin"), [4, 5, 0, 3])
    # differences x[t+1] - x[t]: [1, -2], [3, 1] -> max [3, 1], min [1, -2]
    np.testing.assert_array_equal(pool_one(x, "delta"), [3, 1, 1, -2])
    np.testing.assert_array_equal(pool_one(x, "delta", delta_step=2), [4, -1, 4, -1])
    np.testing.assert_array_equal(pool_one(x, "delta", delta_step=9), [4, -1, 4, -1])  # capped at T - 1
    np.testing.assert_array_equal(pool_one(x[:1], "delta"), [0, 0, 0, 0])  # T = 1: no change, zeros
    assert pool_one(x, "maxmin_delta").shape == (8,)
    # reversal flips the dynamic descriptor: max of the reversal is minus the original's min
    np.testing.assert_array_equal(pool_one(x[::-1].copy(), "delta"), [-1, 2, -3, -1])


@pytest.mark.parametrize("pooling", ["mean", "max", "min", "maxmin", "delta", "maxmin_delta"])
def test_static_pooling_is_exactly_order_invariant(pooling):
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(int(t), 6)).astype(np.float32) for t in rng.integers(2, 30, size=20)]
    same = np.array_equal(pool(X, pooling), pool([x[::-1].copy() for x in X], pooling))
    assert same == is_order_invariant(pooling)


def test_even_subsample_and_truncation_count():
    x = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(even_subsample(x, 4)[:, 0], [0, 3, 6, 9])
    assert even_subsample(x, 10) is x and even_subsample(x, None) is x
    assert count_truncated([x, x[:3]], 5) == 1 and count_truncated([x], None) == 0


def test_holdout_is_stratified_and_degrades_on_tiny_data():
    y = np.repeat([0, 1, 2], 10)
    fit, val = holdout(y, 0.2, 0)
    assert np.bincount(y[val]).tolist() == [2, 2, 2] and len(np.intersect1d(fit, val)) == 0
    fit, val = holdout(np.array([0, 0, 1]), 0.2, 0)  # a singleton class cannot be stratified
    assert len(val) == 1 and len(fit) == 2
    fit, val = holdout(np.array([0]), 0.2, 0)
    assert fit.tolist() == val.tolist() == [0]


# ------------------------------------------------------------------------------------------------ contract


@pytest.mark.parametrize("kind", TYPES)
def test_contract_on_tiny_mixed_length_sequences(kind, tmp_path):
    X, y = tiny(labels=["run", "jump", "walk"])
    Xv, yv = tiny(n_per_class=3, seed=1, labels=["run", "jump", "walk"])
    head = heads.build_head(fast(kind), random_state=0)
    assert head.fit(X, y, X_val=Xv, y_val=yv) is head
    assert list(head.classes_) == ["jump", "run", "walk"]
    proba = head.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    pred = head.predict(Xv)
    assert set(pred) <= set(head.classes_)
    np.testing.assert_array_equal(pred, head.classes_[np.argmax(proba, axis=1)])
    assert np.mean(pred == yv) > 0.5  # the classes are well separated: a working head gets most right
    # learned state: a curve and a parameter count
    assert head.history_ and all({"step", "train_loss", "val_loss", "val_accuracy"} <= set(r) for r in head.history_)
    assert head.n_parameters_ > 0
    # T = 1 everywhere still works
    single = [x[:1] for x in Xv]
    np.testing.assert_allclose(head.predict_proba(single).sum(axis=1), 1.0, atol=1e-9)
    # get_params / set_params / clone round-trip
    params = head.get_params()
    twin = clone(head)
    assert twin.get_params() == params and not hasattr(twin, "classes_")
    key = "C_grid" if kind in ("pooled", "svm") else "max_epochs"
    twin.set_params(**{key: params[key] if kind in ("pooled", "svm") else 2})
    assert twin.get_params()[key] == (params[key] if kind in ("pooled", "svm") else 2)
    # persistence gives the same answers
    heads.save_head(head, tmp_path / "model.pkl")
    np.testing.assert_array_equal(heads.load_head(tmp_path / "model.pkl").predict_proba(Xv), proba)


@pytest.mark.parametrize("kind", TYPES)
def test_same_seed_same_predictions_and_fit_without_validation(kind):
    X, y = tiny(seed=2)
    Xt, _ = tiny(n_per_class=2, seed=3)
    a = heads.build_head(fast(kind), random_state=3).fit(X, y).predict_proba(Xt)
    b = heads.build_head(fast(kind), random_state=3).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", TYPES)
def test_only_single_frame_videos(kind):
    X, y = tiny(lengths=(1, 1))
    head = heads.build_head(fast(kind), random_state=0).fit(X[::2], y[::2], X[1::2], y[1::2])
    np.testing.assert_allclose(head.predict_proba(X).sum(axis=1), 1.0, atol=1e-9)


def test_torch_fit_leaves_global_rng_and_determinism_flag_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    X, y = tiny()
    heads.build_head(fast("gru"), random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert not torch.are_deterministic_algorithms_enabled()


def test_early_stopping_restores_best_epoch():
    from framecache.heads.neural import MIN_DELTA

    X, y = tiny(seed=4)
    Xv, yv = tiny(n_per_class=3, seed=5)
    head = heads.build_head(fast("lstm", max_epochs=30, patience=3, lr=0.05), random_state=0).fit(X, y, Xv, yv)
    losses = [r["val_loss"] for r in head.history_]
    best = losses[head.best_epoch_ - 1]
    assert best <= min(losses) + MIN_DELTA
    assert len(losses) < 30 and len(losses) == head.best_epoch_ + 3  # stopped by patience
    # the restored weights are the best epoch's: their validation loss is that epoch's
    p = head.predict_proba(Xv)
    idx = np.searchsorted(head.classes_, yv)
    assert -np.mean(np.log(p[np.arange(len(yv)), idx])) == pytest.approx(best, rel=1e-5)


def test_max_len_subsamples_and_counts():
    X, y = tiny(lengths=(1, 12))
    head = heads.build_head(fast("gru", max_len=4), random_state=0).fit(X, y)
    assert head.truncated_ == count_truncated(X, 4) > 0
    np.testing.assert_array_equal(head.predict_proba([X[1]]), head.predict_proba([even_subsample(X[1], 4)]))


def test_explicit_cuda_without_gpu_is_a_user_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    X, y = tiny()
    with pytest.raises(FramecacheError, match="no CUDA"):
        heads.build_head(fast("rnn"), random_state=0, device="cuda").fit(X, y)


def test_class_weighting_changes_the_fit():
    X, y = tiny(seed=6)
    X, y = X[:8], y[:8]  # 6 of class 0, 2 of class 1
    a = heads.build_head(fast("rnn"), random_state=0).fit(X, y).predict_proba(X)
    b = heads.build_head(fast("rnn", class_weight="balanced"), random_state=0).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, b)
    c = heads.build_head(fast("pooled", class_weight="balanced"), random_state=0).fit(X, y)
    assert c.estimator_.named_steps["clf"].class_weight == "balanced"


def test_load_head_rejects_other_files(tmp_path):
    with pytest.raises(FramecacheError, match="not found"):
        heads.load_head(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(FramecacheError, match="cannot be read"):
        heads.load_head(tmp_path / "junk.pkl")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"something": 1}))
    with pytest.raises(FramecacheError, match="not a framecache model"):
        heads.load_head(tmp_path / "other.pkl")


# ------------------------------------------------------------------------------------------------ padding


@pytest.mark.parametrize("kind", TORCH_TYPES)
def test_padding_never_changes_a_masked_heads_output(kind):
    X, y = tiny(lengths=(1, 9), seed=7)
    head = heads.build_head(fast(kind), random_state=0).fit(X, y)
    together = head.predict_proba(X)
    alone = np.concatenate([head.predict_proba([x]) for x in X])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    # and at the module level, with garbage (not zeros) in the padded steps
    from framecache.heads.neural import pad

    module = head.module_.eval()
    prepared = head._prepare(X)
    x, lengths = pad(prepared)
    garbage = x.clone()
    for i, n in enumerate(lengths.tolist()):
        garbage[i, n:] = torch.randn(x.shape[1] - n, x.shape[2]) * 100
    with torch.no_grad():
        clean = module(x, lengths)
        dirty = module(garbage, lengths)
        single = torch.cat([module(torch.from_numpy(p)[None], torch.tensor([len(p)])) for p in prepared])
    torch.testing.assert_close(dirty, clean, rtol=0, atol=1e-5)
    torch.testing.assert_close(single, clean, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------------ order task


def order_pairs(n, T=8, k=6, seed=0):
    """Class 0: a random path along a fixed direction; class 1: the exact reversal of a class-0 path."""
    direction = np.random.default_rng(12345).normal(size=k)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        start = rng.normal(size=k)
        path = (start + np.linspace(-1, 1, T)[:, None] * direction + rng.normal(scale=0.2, size=(T, k))).astype(
            np.float32
        )
        X += [path, path[::-1].copy()]
        y += [0, 1]
    return X, np.asarray(y)


BLIND = [
    {"type": "pooled", "pooling": "mean"},
    {"type": "pooled", "pooling": "max"},
    {"type": "pooled", "pooling": "min"},
    {"type": "pooled", "pooling": "maxmin"},
    {"type": "svm", "kernel": "linear", "pooling": "mean", "calibration_folds": 2},
    {"type": "svm", "kernel": "rbf", "pooling": "maxmin", "calibration_folds": 2},
    {"type": "attention", "positional": False, "hidden": 8, "max_epochs": 5},
]


@pytest.mark.parametrize("config", BLIND, ids=lambda c: f"{c['type']}-{c.get('pooling', 'nopos')}")
def test_static_heads_provably_cannot_tell_a_sequence_from_its_reversal(config):
    X, y = order_pairs(20)
    head = heads.build_head(config, random_state=0).fit(X, y)
    Xt, yt = order_pairs(10, seed=1)
    proba = head.predict_proba(Xt)
    # each test pair is (path, reversed path): identical descriptors, hence identical probabilities
    if config["type"] == "attention":
        np.testing.assert_allclose(proba[0::2], proba[1::2], rtol=0, atol=1e-6)
    else:
        np.testing.assert_array_equal(proba[0::2], proba[1::2])
    assert np.mean(head.predict(Xt) == yt) == 0.5


TEMPORAL = {
    "rnn": {"hidden": 16},
    "lstm": {"hidden": 16},
    "gru": {"hidden": 16},
    "attention": {"hidden": 16, "attention_hidden": 8},
    "transformer": {"hidden": 16, "num_heads": 2, "feedforward": 32},
    "pooled": {"pooling": "delta"},  # the dynamic descriptor is not order-blind either
}


@pytest.mark.parametrize("kind", list(TEMPORAL))
def test_temporal_heads_learn_the_order_task(kind):
    X, y = order_pairs(30)
    Xv, yv = order_pairs(8, seed=2)
    Xt, yt = order_pairs(20, seed=3)
    config = {"type": kind, **TEMPORAL[kind]}
    if kind != "pooled":
        config.update(max_epochs=60, patience=10, input_dropout=0.0, dropout=0.0, lr=0.01)
    head = heads.build_head(config, random_state=0).fit(X, y, Xv, yv)
    assert np.mean(head.predict(Xt) == yt) >= 0.9


@pytest.mark.parametrize("kind", TYPES)
def test_class_defaults_match_the_schema(kind):
    import inspect

    signature = inspect.signature(heads.head_class(kind).__init__).parameters
    for key, field in heads.head_param_schema(kind).items():
        default = signature[key].default
        assert (list(default) if isinstance(default, tuple) else default) == field.default, key


def test_synthetic_order_task_pairs_are_exact_reversals_in_the_same_split():
    from synthetic import order_task, pair_accuracy

    d = order_task(clips_per_class=4, frames=(1, 6), k=12, latent=4, seed=3)
    assert len(d.classes) == 10 and len(d.X) == 40 and d.pairs == [(4, 5), (6, 7), (8, 9)]
    for fwd, rev in d.pairs:
        a, b = np.flatnonzero(d.y == fwd), np.flatnonzero(d.y == rev)
        for i, j in zip(a, b, strict=True):
            np.testing.assert_array_equal(d.X[j], d.X[i][::-1])
            assert d.split[i] == d.split[j]
    # identical probabilities for a clip and its reversal: exactly half right within the pair
    proba = np.tile([0.1, 0.9], (8, 1))
    assert pair_accuracy(np.array([0, 1] * 4), proba, (0, 1)) == 0.5
