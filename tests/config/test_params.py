"""params.yaml validation: every error kind names the key, the value as written and what is allowed."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framecache.config.fields import Settings
from framecache.config.params import ParamsError, load_params, read_yaml, validate
from framecache.config.sections import Extract, ParamsFile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw() -> dict:
    return read_yaml(REPO / "params.yaml")


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_repository_params_are_valid_and_complete(raw):
    params = validate(raw)
    # every model key is present in the committed file, so users see (and the README documents) them all
    for section, field in ParamsFile.model_fields.items():
        assert section in raw, f"params.yaml lacks section {section}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, Settings):
            assert set(field.annotation.model_fields) == set(raw[section]), f"params.yaml {section} keys differ"
    assert params.extract.backbone == "efficientnet_lite0"
    assert params["train"]["heads"] == raw["train"]["heads"]


def test_defaults_fill_missing_keys(raw):
    del raw["extract"]["num_frames"]
    assert validate(raw).extract.num_frames == Extract.model_fields["num_frames"].default == 16


def test_unknown_key_suggests_the_nearest(raw):
    raw["extract"]["num_frame"] = 8
    with pytest.raises(ParamsError) as err:
        validate(raw)
    msg = str(err.value)
    assert "extract.num_frame" in msg and "(did you mean 'extract.num_frames'?)" in msg
    assert "known keys here: amp, backbone," in msg


def test_unknown_top_level_section(raw):
    raw["extrakt"] = {}
    with pytest.raises(ParamsError, match=r"unknown key 'extrakt' \(did you mean 'extract'\?\)"):
        validate(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("extract", "num_frames", "sixteen", "extract.num_frames = 'sixteen' is not allowed: expected an integer >= 1"),
        ("extract", "num_frames", 0, "extract.num_frames = 0 is not allowed: expected an integer >= 1"),
        ("extract", "num_frames", True, "extract.num_frames = True is not allowed: expected an integer"),
        ("extract", "sampling", "random", "extract.sampling = 'random' is not allowed: expected one of 'uniform'"),
        ("extract", "fps", 0, "extract.fps = 0 is not allowed: expected a number > 0"),
        ("prepare", "val_fraction", 1.5, "prepare.val_fraction = 1.5 is not allowed: expected a number > 0 and <= 0.9"),
        ("prepare", "extensions", ".mp4", "prepare.extensions = '.mp4' is not allowed: expected a list of a string"),
        ("extract", "batch_size", -3, "extract.batch_size = -3 is not allowed"),
        ("report", "class_pairs", [["a"]], "report.class_pairs[0] = ['a'] is not allowed"),
    ],
)
def test_wrong_values_name_key_value_and_allowed(raw, section, key, value, expected):
    raw[section][key] = value
    with pytest.raises(ParamsError) as err:
        validate(raw)
    assert expected in str(err.value)


def test_null_only_where_allowed(raw):
    raw["extract"]["batch_size"] = None  # nullable: the device's measured default
    assert validate(raw).extract.batch_size is None
    raw["extract"]["num_frames"] = None
    with pytest.raises(ParamsError, match=r"extract.num_frames = None .* integer >= 1"):
        validate(raw)


def test_yaml_float_pitfall(tmp_path, raw):
    # PyYAML alone reads 1e-3 as the string '1e-3'; our loader must read it as DVC does: a float
    assert yaml.safe_load("x: 1e-3")["x"] == "1e-3"
    text = (REPO / "params.yaml").read_text().replace("fps: 2.0", "fps: 5e-1")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert read_yaml(path)["extract"]["fps"] == 0.5
    assert load_params(path).extract.fps == 0.5
    # a quoted number in a float field is still clearly a number; in a string field it stays a string
    raw["extract"]["fps"], raw["prepare"]["group_regex"] = "1e-3", "1e-3"
    params = validate(raw)
    assert params.extract.fps == 0.001 and params.prepare.group_regex == "1e-3"
    raw["extract"]["fps"] = "fast"
    with pytest.raises(ParamsError, match=r"extract.fps = 'fast' is not allowed: expected a number > 0"):
        validate(raw)


def test_ints_accepted_for_floats_but_not_fractions_for_ints(raw):
    raw["extract"]["fps"], raw["extract"]["num_frames"] = 1, 4.0
    params = validate(raw)
    assert params.extract.fps == 1.0 and isinstance(params.extract.fps, float)
    assert params.extract.num_frames == 4 and isinstance(params.extract.num_frames, int)
    raw["extract"]["num_frames"] = 4.5
    with pytest.raises(ParamsError, match=r"extract.num_frames = 4.5 is not allowed: expected an integer >= 1"):
        validate(raw)


def test_cross_checks(raw):
    bad = copy.deepcopy(raw)
    bad["prepare"]["val_fraction"], bad["prepare"]["test_fraction"] = 0.5, 0.5
    with pytest.raises(ParamsError, match="leaves nothing to train on"):
        validate(bad)
    bad = copy.deepcopy(raw)
    bad["demo"]["min_frames"], bad["demo"]["max_frames"] = 50, 10
    with pytest.raises(ParamsError, match=r"demo.min_frames = 50 is larger than demo.max_frames = 10"):
        validate(bad)
    bad = copy.deepcopy(raw)
    bad["demo"]["size"] = 65
    with pytest.raises(ParamsError, match=r"demo\.size = 65 must be even"):
        validate(bad)
    bad = copy.deepcopy(raw)
    bad["prepare"]["group_regex"] = "_g(\\d+"
    with pytest.raises(ParamsError, match=r"prepare\.group_regex .* not a valid regex"):
        validate(bad)


def test_train_heads_must_name_defined_heads(raw):
    raw["train"]["heads"] = ["lstm", "lstn"]
    with pytest.raises(
        ParamsError, match=r"train.heads\[1\] = 'lstn' has no entry under heads \(did you mean 'lstm'\?\)"
    ):
        validate(raw)
    raw["train"]["heads"] = ["lstm", "lstm"]
    with pytest.raises(ParamsError, match="lists a head twice"):
        validate(raw)


def test_head_entries_are_validated_by_their_type(raw):
    bad = copy.deepcopy(raw)
    bad["heads"]["lstm"]["type"] = "lstn"
    with pytest.raises(
        ParamsError,
        match=r"heads.lstm.type = 'lstn' is not a head type \(did you mean 'lstm'\?\); valid types: attention, gru",
    ):
        validate(bad)
    bad = copy.deepcopy(raw)
    bad["heads"]["lstm"]["hiden"] = 3
    with pytest.raises(ParamsError, match=r"unknown key 'heads.lstm.hiden' \(did you mean 'heads.lstm.hidden'\?\)"):
        validate(bad)


def test_cli_reports_errors_without_traceback(tmp_path, raw):
    raw["extract"]["device"] = "tpu"
    path = _write(tmp_path, raw)
    proc = subprocess.run(
        [sys.executable, "-m", "framecache.config.params", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "extract.device = 'tpu' is not allowed: expected one of 'auto', 'cpu', 'cuda'" in proc.stderr
    assert "Traceback" not in proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "framecache.config.params", str(REPO / "params.yaml")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", ["", "\n  \n", "# all settings removed\n"])
def test_an_empty_file_says_it_is_empty(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError, match=r"params\.yaml is empty.*git checkout -- params\.yaml"):
        load_params(path)
