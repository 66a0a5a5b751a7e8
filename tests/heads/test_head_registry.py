"""The head registry: one record per type, and everything that reads it (params, build_head, the flags)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framecache import heads
from framecache.config.params import ParamsError, load_params
from framecache.errors import FramecacheError

ROOT = Path(__file__).resolve().parents[2]
RECORDS = list(heads.REGISTRY.values())


def test_registry_lists_every_type_sorted():
    assert heads.head_types() == ["attention", "gru", "lstm", "pooled", "rnn", "svm", "transformer"]
    for name, record in heads.REGISTRY.items():
        assert record.name == name
        assert "type" not in record.settings.model_fields


def test_unknown_type_lists_valid_ones():
    with pytest.raises(FramecacheError, match=r"'lstmm' \(did you mean 'lstm'\?\); valid types: attention, gru, lstm"):
        heads.build_head({"type": "lstmm"}, random_state=0)
    with pytest.raises(FramecacheError, match="valid types"):
        heads.head_record("nope")
    with pytest.raises(FramecacheError, match="needs a 'type' key"):
        heads.build_head({"hidden": 3}, random_state=0)


def test_build_head_rejects_unknown_setting_and_fills_defaults():
    with pytest.raises(ParamsError, match=r"unknown key 'heads.<lstm>.hiden' \(did you mean 'heads.<lstm>.hidden'\?\)"):
        heads.build_head({"type": "lstm", "hiden": 3}, random_state=0)
    with pytest.raises(ParamsError, match=r"heads.<gru>.hidden = 0 is not allowed: expected an integer >= 1"):
        heads.build_head({"type": "gru", "hidden": 0}, random_state=0)
    head = heads.build_head({"type": "gru"}, random_state=7, device="cpu")
    defaults = heads.REGISTRY["gru"].settings().model_dump()
    params = head.get_params()
    assert params["random_state"] == 7 and params["device"] == "cpu"
    assert {k: params[k] for k in defaults} == defaults


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_record_matches_its_implementation(record):
    cls = heads.head_class(record.name)
    signature = inspect.signature(cls.__init__).parameters
    # the constructor takes exactly the settings, plus the seed (and the device for torch heads)
    extra = {"random_state", "device"} if record.uses_torch else {"random_state"}
    assert set(signature) - {"self"} == set(record.settings.model_fields) | extra
    for key, field in record.settings.model_fields.items():
        default = signature[key].default
        assert (list(default) if isinstance(default, tuple) else default) == field.default, key
    # uses_torch is what the class is, not a separate list to keep in step
    from framecache.heads.neural import TorchHead

    assert issubclass(cls, TorchHead) == record.uses_torch
    assert heads.uses_torch({"type": record.name}) == record.uses_torch


def test_params_yaml_writes_every_setting_of_every_head():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["heads"]
    for name, entry in raw.items():
        missing = set(heads.REGISTRY[entry["type"]].settings.model_fields) - set(entry)
        assert not missing, f"heads.{name} leaves {sorted(missing)} implicit"
    load_params(ROOT / "params.yaml")  # and the file validates


def test_order_blindness_is_answered_from_the_settings():
    assert heads.is_order_blind({"type": "pooled"})  # default pooling: mean
    assert heads.is_order_blind({"type": "svm", "pooling": "maxmin"})
    assert not heads.is_order_blind({"type": "pooled", "pooling": "delta"})
    assert heads.is_order_blind({"type": "attention", "positional": False})
    assert not heads.is_order_blind({"type": "attention"})
    for kind in ("rnn", "lstm", "gru", "transformer"):
        assert not heads.is_order_blind({"type": kind})
    with pytest.raises(ParamsError, match="pooling = 'median'"):
        heads.is_order_blind({"type": "pooled", "pooling": "median"})


def test_registry_import_is_cheap():
    code = (
        "import sys, framecache.heads as h; from framecache.config.params import load_params; "
        "load_params('params.yaml'); h.is_order_blind({'type': 'lstm'}); "
        "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
