"""The contract every registered head type keeps, run over the registry with each type's tiny settings: a new
head type is tested here without editing this file.

scikit-learn conventions (fit returns self, get/set_params and clone round-trip, learned attributes end in
``_``, ``classes_``, probability rows sum to 1), T = 1 and mixed lengths, determinism, persistence, params
validation of the type's defaults, and the record's ``order_blind`` predicate checked against behaviour.
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from framecache import heads
from framecache.config.params import read_yaml, validate
from tests.synthetic import mixed_lengths

ROOT = Path(__file__).resolve().parents[2]
RECORDS = list(heads.REGISTRY.values())
LABELS = ["run", "jump", "walk"]


def tiny(record, **extra) -> dict:
    return {"type": record.name, **record.tiny, **extra}


def by_name(record) -> str:
    return record.name


@pytest.mark.parametrize("record", RECORDS, ids=by_name)
def test_contract_on_tiny_mixed_length_sequences(record, tmp_path):
    X, y = mixed_lengths(labels=LABELS)
    Xv, yv = mixed_lengths(n_per_class=3, seed=1, labels=LABELS)
    head = heads.build_head(tiny(record), random_state=0)
    assert head.fit(X, y, X_val=Xv, y_val=yv) is head
    assert list(head.classes_) == ["jump", "run", "walk"]
    proba = head.predict_proba(Xv)
    assert proba.shape == (len(Xv), 3) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    pred = head.predict(Xv)
    np.testing.assert_array_equal(pred, head.classes_[np.argmax(proba, axis=1)])
    assert np.mean(pred == yv) > 0.5  # the classes are well separated: a working head gets most right
    # learned state ends in "_" (scikit-learn's convention: set by fit, never by __init__)
    learned = set(vars(head)) - set(head.get_params())
    assert learned and all(name.endswith("_") for name in learned), sorted(learned)
    # every head chooses on validation from a grid: each candidate's scores, and the one kept
    assert head.grid_ and all({"step", "train_loss", "val_loss", "val_accuracy"} <= set(r) for r in head.grid_)
    assert any(all(r[k] == v for k, v in head.best_params_.items()) for r in head.grid_)
    if record.uses_torch:  # ... and a torch head's training curve is the chosen candidate's epochs
        assert head.history_ and all({"step", "train_loss", "val_loss"} <= set(r) for r in head.history_)
    assert head.n_parameters_ > 0
    # T = 1 everywhere still works
    np.testing.assert_allclose(head.predict_proba([x[:1] for x in Xv]).sum(axis=1), 1.0, atol=1e-9)
    # persistence gives the same answers
    heads.save_head(head, tmp_path / "model.pkl")
    np.testing.assert_array_equal(heads.load_head(tmp_path / "model.pkl").predict_proba(Xv), proba)


@pytest.mark.parametrize("record", RECORDS, ids=by_name)
def test_get_set_params_and_clone_round_trip(record):
    head = heads.build_head(tiny(record), random_state=5)
    params = head.get_params()
    twin = clone(head)
    assert twin.get_params() == params and twin is not head
    # every setting can be set back to its documented default
    defaults = record.settings().model_dump()
    twin.set_params(**defaults)
    assert {k: twin.get_params()[k] for k in defaults} == defaults
    assert not hasattr(twin, "classes_")


@pytest.mark.parametrize("record", RECORDS, ids=by_name)
def test_same_seed_same_predictions_and_fit_without_validation(record):
    X, y = mixed_lengths(seed=2)
    Xt, _ = mixed_lengths(n_per_class=2, seed=3)
    a = heads.build_head(tiny(record), random_state=3).fit(X, y).predict_proba(Xt)
    b = heads.build_head(tiny(record), random_state=3).fit(X, y).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("record", RECORDS, ids=by_name)
def test_only_single_frame_videos(record):
    X, y = mixed_lengths(lengths=(1, 1))
    head = heads.build_head(tiny(record), random_state=0).fit(X[::2], y[::2], X[1::2], y[1::2])
    np.testing.assert_allclose(head.predict_proba(X).sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.parametrize("record", RECORDS, ids=by_name)
def test_params_validation_accepts_the_defaults_and_the_tiny_settings(record):
    raw = read_yaml(ROOT / "params.yaml")
    raw["heads"] = {"plain": {"type": record.name}, "tiny": tiny(record)}
    raw["train"]["heads"] = ["plain", "tiny"]
    params = validate(copy.deepcopy(raw))
    assert params["heads"]["plain"] == {"type": record.name, **record.settings().model_dump()}
    assert params["heads"]["tiny"] == {"type": record.name, **record.settings(**record.tiny).model_dump()}


def _choices(annotation) -> tuple:
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return (True, False) if annotation is bool else ()


def _variants(record) -> list[tuple[str, dict]]:
    """The tiny settings, then each choice (a Literal or bool setting) changed one at a time."""
    out = [(f"{record.name}-tiny", dict(record.tiny))]
    for key, field in record.settings.model_fields.items():
        current = record.tiny.get(key, field.default)
        out += [
            (f"{record.name}-{key}={value}", {**record.tiny, key: value})
            for value in _choices(field.annotation)
            if value != current
        ]
    return out


CASES = [(record, settings) for record in RECORDS for _, settings in _variants(record)]
IDS = [label for record in RECORDS for label, _ in _variants(record)]


@pytest.mark.parametrize(("record", "settings"), CASES, ids=IDS)
def test_order_blind_predicate_matches_behaviour(record, settings):
    X, y = mixed_lengths(lengths=(3, 7), seed=8)
    head = heads.build_head({"type": record.name, **settings}, random_state=0).fit(X, y)
    Xt, _ = mixed_lengths(n_per_class=2, lengths=(3, 7), seed=9)
    forward = head.predict_proba(Xt)
    backward = head.predict_proba([x[::-1].copy() for x in Xt])
    blind = heads.is_order_blind({"type": record.name, **settings})
    assert blind == record.order_blind(record.settings(**settings))
    if blind:  # reversing every video changes no prediction
        np.testing.assert_allclose(backward, forward, rtol=0, atol=1e-6)
    else:  # a head that reads order answers differently for a video and its reversal
        assert not np.allclose(backward, forward, rtol=0, atol=1e-6)
