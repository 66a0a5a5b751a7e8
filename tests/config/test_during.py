"""A stage whose params change while it runs stops with exit 2, so DVC never records the new values for outputs
made with the old ones; a change to params it does not depend on goes through."""

from __future__ import annotations

import pytest
import yaml

from framecache.config.during import STAGE_PARAMS, params_unchanged, stage_keys
from framecache.errors import FramecacheError
from tests.builders import write_params


def _edit(path, **sections):
    write_params(path, yaml.safe_load(path.read_text()), **sections)


def test_a_change_to_a_stage_param_during_the_run_is_refused_naming_it(tmp_path):
    path = write_params(tmp_path, heads={"gru": {"hidden": 48}})
    with pytest.raises(FramecacheError) as err, params_unchanged(path, "train", head="gru"):
        _edit(path, heads={"gru": {"hidden": 96}})
    message = str(err.value)
    assert "changed while train@gru ran: heads.gru.hidden: 48 → 96" in message
    assert "DVC records nothing" in message and "run `dvc repro` again" in message


def test_sections_are_compared_key_by_key_and_other_params_may_change(tmp_path):
    path = write_params(tmp_path)
    with pytest.raises(FramecacheError, match=r"extract\.num_frames: 16 → 8"), params_unchanged(path, "extract"):
        _edit(path, extract={"num_frames": 8}, heads={"gru": {"hidden": 3}})
    with params_unchanged(path, "extract"):  # train and heads: not extract's
        _edit(path, heads={"gru": {"hidden": 5}}, train={"repeats": 3})
    with params_unchanged(path, "train", head="lstm"):  # another head's settings: not train@lstm's
        _edit(path, heads={"gru": {"hidden": 7}})
    with pytest.raises(FramecacheError, match=r"heads\.gru\.hidden: 7 → 9"), params_unchanged(path, "validate"):
        _edit(path, heads={"gru": {"hidden": 9}})  # validate depends on the whole file


def test_a_file_that_cannot_be_read_at_the_end_counts_as_changed(tmp_path):
    path = write_params(tmp_path)
    with pytest.raises(FramecacheError, match="cannot be read any more"), params_unchanged(path, "report"):
        path.unlink()
    with params_unchanged(tmp_path / "absent.yaml", "report"):
        pass  # nothing to compare: the stage's own load_params reports a missing file
    with params_unchanged(path, "report", enabled=False):
        write_params(path, seed=3)  # a torchrun rank: its launcher checks


def test_train_keys_follow_the_head():
    assert stage_keys("train", head="gru")[-1] == "heads.gru"
    assert stage_keys("validate") is None and set(STAGE_PARAMS) >= {"demo", "prepare", "extract", "train", "report"}
