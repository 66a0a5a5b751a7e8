"""Every pipeline command refuses to finish when a param it depends on changed while it ran (so DVC never
records the new value for outputs made with the old one), and finishes when only other params changed."""

from __future__ import annotations

import pytest
import yaml

from framecache.errors import FramecacheError
from tests.builders import write_params

# stage -> (its library function as the command module names it, argv after --params, a change to a param it
# depends on, a change to one it does not)
STAGES = {
    "validate": ("write_validated", ["--out", "{tmp}/v"], {"seed": 5}, None),
    "demo": ("write_demo", ["--out", "{tmp}/demo"], {"demo": {"fps": 12}}, {"extract": {"num_frames": 4}}),
    "prepare": ("prepare_dataset", ["--dataset", "{tmp}", "--out", "{tmp}/p"], {"prepare": {"split_list": 2}},
                {"heads": {"gru": {"hidden": 3}}}),
    "extract": ("run_extract_command", ["--manifest", "m", "--classes", "c", "--out", "o", "--failures", "f",
                                        "--metrics", "x"], {"extract": {"num_frames": 8}}, {"seed": 4}),
    "train": ("train_from_store", ["--head", "gru", "--store", "s", "--out", "o"], {"heads": {"gru": {"hidden": 9}}},
              {"heads": {"lstm": {"hidden": 9}}}),
    "report": ("build_report", ["--prepared", "p", "--features", "f", "--store", "s", "--models", "m", "--out", "o"],
               {"report": {"bootstrap": 300}}, {"extract": {"num_frames": 4}}),
}  # fmt: skip
# what each function returns, as far as its command reads it (counts it logs)
SUMMARY = {"heads": [], "test_videos": 0, "test_groups": 0, "best_head_chosen_on": "", "best_head": "",
           "best_test_top1": 0.0, "test_top1": 0.0, "test_top1_std": 0.0, "repeats": 1, "fit_seconds": 0.0,
           "videos": 0, "classes": 0, "source": "", "per_split": {}, "split_source": "", "failures": 0}  # fmt: skip
RETURNS = {"demo": [], "extract": 0, "validate": None}


def _run(stage, tmp_path, monkeypatch, change):
    import importlib

    function, argv, _, _ = STAGES[stage]
    module = importlib.import_module(f"stages.{stage}")
    path = write_params(tmp_path)

    def work(*args, **kwargs):  # the stage's work, during which params.yaml is edited
        write_params(path, yaml.safe_load(path.read_text()), **change)
        return RETURNS.get(stage, SUMMARY)

    # the report command imports its library inside main()
    owner = importlib.import_module("framecache.report.build") if stage == "report" else module
    monkeypatch.setattr(owner, function, work)
    return module.main(["--params", str(path), *(a.format(tmp=tmp_path) for a in argv)])


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_param_changed_during_the_stage_fails_it(stage, tmp_path, monkeypatch):
    name = f"{stage}@gru" if stage == "train" else stage
    with pytest.raises(FramecacheError, match=rf"changed while {name} ran: .*→"):
        _run(stage, tmp_path, monkeypatch, STAGES[stage][2])


@pytest.mark.parametrize("stage", sorted(s for s in STAGES if STAGES[s][3] is not None))
def test_a_change_to_other_params_does_not(stage, tmp_path, monkeypatch):
    assert _run(stage, tmp_path, monkeypatch, STAGES[stage][3]) in (0, None)
