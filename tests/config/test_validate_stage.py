"""The validate stage: DVC deletes a stage's outputs before it runs the stage's command, so params are checked
by a first stage that every other stage depends on. Checked with DVC itself in a throw-away repository (a
stand-in downstream stage, the real validate command), against the same repository without the stage; and
the real dvc.yaml wired that way. Also the checks load_params makes for it: output folders inside the
repository, a bounded extract.batch_size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framecache.config.loading import VALIDATED, load_params, repository_root, write_validated
from framecache.config.messages import ParamsError
from tests.builders import REPO, write_params

DVC = [sys.executable, "-m", "dvc"]
# a downstream stage that loads params itself, as every real stage does, then writes its output
TRAIN = "python -c \"from framecache.config.params import load_params; load_params('params.yaml'); open('out.txt', 'w').write('model')\""  # noqa: E501


def _dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DVC_NO_ANALYTICS": "1"}
    return subprocess.run([*DVC, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _repo(root: Path, with_validate: bool) -> Path:
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert _dvc(root, "init", "-q").returncode == 0
    write_params(root / "params.yaml")
    stages = {"train": {"cmd": TRAIN, "deps": [], "params": ["train.repeats"], "outs": ["out.txt"]}}
    if with_validate:
        stages["validate"] = {
            "cmd": "python -m stages.validate --params params.yaml --out data/params.validated",
            "params": [{"params.yaml": None}],
            "outs": ["data/params.validated"],
        }
        stages["train"]["deps"] = ["data/params.validated"]
    else:
        del stages["train"]["deps"]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return root


def _set(root: Path, **sections) -> None:
    data = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in sections.items():
        if isinstance(values, dict):
            data[section].update(values)
        else:
            data[section] = values
    (root / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_bad_params_stop_dvc_before_any_output_is_deleted(tmp_path):
    root = _repo(tmp_path / "with", with_validate=True)
    first = _dvc(root, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (root / "out.txt").read_text() == "model"

    _set(root, seed=1)  # a key train does not depend on: validate re-runs, writes the same bytes, train does not
    again = _dvc(root, "repro")
    assert again.returncode == 0 and "Running stage 'train'" not in again.stdout, again.stdout
    assert (root / "data" / "params.validated").read_text() == VALIDATED

    _set(root, train={"repeats": 0})
    bad = _dvc(root, "repro")
    assert bad.returncode != 0
    assert "train.repeats" in bad.stdout + bad.stderr
    assert (root / "out.txt").read_text() == "model"  # train's output untouched

    # the same repository without the validate stage: DVC deletes train's output before the command refuses
    plain = _repo(tmp_path / "without", with_validate=False)
    assert _dvc(plain, "repro").returncode == 0 and (plain / "out.txt").exists()
    _set(plain, train={"repeats": 0})
    assert _dvc(plain, "repro").returncode != 0
    assert not (plain / "out.txt").exists()


def test_every_stage_of_the_pipeline_depends_on_validate():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    validate = stages.pop("validate")
    assert validate["params"] == [{"params.yaml": None}]  # every key of the file
    (out,) = validate["outs"]
    assert out in validate["cmd"]
    for name, stage in stages.items():
        assert out in stage["deps"], name


def test_write_validated_writes_the_same_bytes_or_refuses(tmp_path):
    out = tmp_path / "data" / "params.validated"
    write_validated(write_params(tmp_path), out)
    assert out.read_text() == VALIDATED
    out.unlink()
    with pytest.raises(ParamsError, match=r"train\.repeats"):
        write_validated(write_params(tmp_path, train={"repeats": 0}), out)
    assert not out.exists()


@pytest.mark.parametrize("key", ["features", "prepared", "models", "report", "demo"])
def test_an_output_folder_outside_the_repository_is_refused_at_load(tmp_path, key):
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    params = write_params(project / "params.yaml", paths={key: str(tmp_path / "elsewhere")})
    with pytest.raises(ParamsError, match=rf"paths\.{key} = .*elsewhere.* outside the repository"):
        load_params(params)
    write_params(params, paths={key: f"../{key}"})
    with pytest.raises(ParamsError, match="outside the repository"):
        load_params(params)
    write_params(params, paths={key: str(project / "data" / key)})  # absolute but inside: fine
    assert load_params(params)["paths"][key] == str(project / "data" / key)


def test_the_dataset_may_be_anywhere_and_the_root_is_the_repository(tmp_path):
    project = tmp_path / "project"
    (project / ".dvc").mkdir(parents=True)
    (project / "sub").mkdir()
    params = write_params(project / "params.yaml", paths={"dataset": str(tmp_path / "videos")})
    assert load_params(params)["paths"]["dataset"] == str(tmp_path / "videos")
    assert repository_root(project / "sub" / "params.yaml") == project
    assert repository_root(REPO / "params.yaml") == REPO


def test_extract_batch_size_is_bounded(tmp_path):
    assert load_params(write_params(tmp_path, extract={"batch_size": 1024}))["extract"]["batch_size"] == 1024
    with pytest.raises(ParamsError, match=r"extract\.batch_size = 4096 .*at most"):
        load_params(write_params(tmp_path, extract={"batch_size": 4096}))
