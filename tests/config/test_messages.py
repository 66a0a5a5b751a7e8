"""What a params error says, for the error kinds pydantic reports, and the "allowed" text the README reuses."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from framecache import heads
from framecache.config.fields import Settings
from framecache.config.messages import describe
from framecache.config.params import ParamsError, read_yaml, validate
from framecache.config.sections import ParamsFile

REPO = Path(__file__).resolve().parents[2]
RAW = read_yaml(REPO / "params.yaml")


def _error(change) -> str:
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ParamsError) as err:
        validate(raw)
    return str(err.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["report"].update(class_pairs=[["a", 5]]),
            "params: report.class_pairs[0][1] = 5 is not allowed: expected a string",
        ),
        (
            lambda r: r["prepare"].update(extensions=[]),
            "params: prepare.extensions = [] is not allowed: expected a list of a string with at least 1 item",
        ),
        (
            lambda r: r["extract"].update(image_size=8),
            "params: extract.image_size = 8 is not allowed: expected an integer >= 32 and <= 1024 (or null)",
        ),
        (lambda r: r.update(extract=5), "params: extract must be a mapping of keys to values, got 5"),
        (lambda r: r.update(heads=None), "params: heads must be a mapping of names to settings, got None"),
        (lambda r: r["heads"].update(lstm=5), "params: heads.lstm must be a mapping with a 'type' key, got 5"),
        (
            lambda r: r["heads"].update(lstm={"hidden": 3}),
            "params: heads.lstm.type = None is not a head type; valid types: attention, gru, lstm, pooled, rnn,",
        ),
        (
            lambda r: r["heads"]["pool_mean"].update(C_grid=[0]),
            "params: heads.pool_mean.C_grid[0] = 0 is not allowed: expected a number > 0",
        ),
        (
            lambda r: r["heads"]["attention"].update(positional="yes"),
            "params: heads.attention.positional = 'yes' is not allowed: expected true or false",
        ),
        (
            lambda r: r["heads"]["gru"].update(readout=["first"]),
            "params: heads.gru.readout[0] = 'first' is not allowed: expected one of 'last', 'mean', 'max'",
        ),
        (lambda r: r.update(seed=-1), "params: seed = -1 is not allowed: expected an integer >= 0"),
    ],
)
def test_error_names_the_key_the_value_as_written_and_what_is_allowed(change, expected):
    assert expected in _error(change)


def test_an_unknown_key_is_reported_before_a_bad_value():
    def change(raw):
        raw["extract"]["num_frames"] = 0
        raw["demo"]["clip_per_class"] = 3

    assert "unknown key 'demo.clip_per_class' (did you mean 'demo.clips_per_class'?)" in _error(change)


def test_empty_sections_take_the_defaults_and_an_empty_file_is_refused():
    raw = copy.deepcopy(RAW)
    raw["demo"] = None  # `demo:` with nothing under it
    assert validate(raw)["demo"]["clips_per_class"] == 24
    with pytest.raises(ParamsError, match="is empty"):
        validate(None)  # an empty file: said so, not "train.heads[0] has no entry under heads"
    with pytest.raises(ParamsError, match=r"the top level must be a mapping of keys to values, got \[1\]"):
        validate([1])


def test_head_names_are_strings_and_entries_start_with_their_type():
    raw = copy.deepcopy(RAW)
    raw["heads"][7] = {"type": "pooled"}
    params = validate(raw)
    assert "7" in params["heads"] and next(iter(params["heads"]["7"])) == "type"
    assert params["heads"]["7"]["C_grid"] == [0.001, 0.01, 0.1, 1.0, 10.0]  # defaults filled


def _models() -> list[type[Settings]]:
    sections = [f.annotation for f in ParamsFile.model_fields.values() if isinstance(f.annotation, type)]
    return [
        *(s for s in sections if issubclass(s, Settings)),
        *(t.settings for t in heads.REGISTRY.values()),
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_key_is_documented_and_unknown_keys_are_refused(model):
    for key, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{key} has no meaning for the README"
        assert describe(field.annotation, field.metadata), key
    assert model.model_config["extra"] == "forbid"
    assert ParamsFile.model_config["extra"] == "forbid" and ParamsFile.model_fields["seed"].description


def test_describe_reads_types_and_constraints():
    fields = ParamsFile.model_fields
    extract = fields["extract"].annotation.model_fields
    assert describe(extract["fps"].annotation, extract["fps"].metadata) == "a number > 0"
    assert describe(extract["batch_size"].annotation, extract["batch_size"].metadata) == "an integer >= 1 (or null)"
    assert describe(extract["amp"].annotation) == "one of 'auto', 'off', 'fp16', 'bf16'"
    pairs = fields["report"].annotation.model_fields["class_pairs"]
    assert describe(pairs.annotation, pairs.metadata) == "a list of a list of a string with exactly 2 items"
