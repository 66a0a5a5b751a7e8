"""The whole DVC pipeline in a throw-away git repository: runs, re-runs nothing when nothing changed, re-runs
exactly one head (and the report) when one head's params change, and never touches the user's videos."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framecache.config.params import read_yaml
from framecache.fileio import file_sha256
from tests.builders import write_params

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]


def _run(cmd, cwd, timeout=900):
    env = {**os.environ, "PYTHONPATH": str(cwd), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def _copy_project(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A fresh git clone-alike of the project, pointed at a small user dataset outside it, after one repro."""
    base = tmp_path_factory.mktemp("e2e")
    proj, videos = base / "project", base / "user videos"
    proj.mkdir()
    _copy_project(proj)
    from tests.conftest import write_video

    for c, cls in enumerate(("wave", "jump", "spin")):
        for g in range(4):
            write_video(videos / cls / f"v_{cls}_g{g:02d}_c01.mp4", frames=5 + g, size=32, seed=10 * c + g)
    write_params(
        proj / "params.yaml",
        paths={"dataset": str(videos)},
        demo={"clips_per_class": 4, "size": 32, "min_frames": 4, "max_frames": 6},
        prepare={"val_fraction": 0.25, "test_fraction": 0.25},
        extract={"num_frames": 3, "image_size": 64, "batch_size": 8, "num_workers": 0},
        train={"heads": ["pool_mean", "gru"]},
        report={"bootstrap": 200},
    )
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
    ):
        subprocess.run(cmd, cwd=proj, check=True)
    before = _tree(videos)
    first = _run([*DVC, "repro"], proj)
    return {"proj": proj, "videos": videos, "before": before, "first": first}


def test_repro_runs_every_stage_and_writes_the_report(project):
    proj, out = project["proj"], project["first"]
    for stage in ("demo", "prepare", "extract", "train@pool_mean", "train@gru", "report"):
        assert f"Running stage '{stage}'" in out
    assert (proj / "data/report/report.html").stat().st_size > 1000
    metrics = json.loads((proj / "data/models/gru/metrics.json").read_text())
    # train.evaluation: auto with 1 test video per class: group k-fold, one fold per group (4 < train.folds)
    assert 0.0 <= metrics["test_top1"] <= 1.0 and metrics["test_videos"] == 12
    assert (
        metrics["evaluation"] == "group_kfold"
        and metrics["folds"] == 4
        and "auto chose" in metrics["evaluation_reason"]
    )
    extract = json.loads((proj / "data/features/metrics.json").read_text())
    assert extract["videos_stored"] == 12 and extract["frames"] == 12 * 3 and extract["failures"] == 0
    summary = json.loads((proj / "data/report/summary.json").read_text())
    assert set(summary["heads"]) == {"pool_mean", "gru"}


def test_second_repro_is_a_no_op_and_user_videos_are_untouched(project):
    out = _run([*DVC, "repro"], project["proj"])
    assert "Running stage" not in out
    assert "Data and pipelines are up to date" in out
    assert _tree(project["videos"]) == project["before"]


def test_changing_one_head_reruns_only_that_head_and_the_report(project):
    proj = project["proj"]
    hidden = read_yaml(proj / "params.yaml")["heads"]["gru"]["hidden"]
    write_params(proj / "params.yaml", read_yaml(proj / "params.yaml"), heads={"gru": {"hidden": hidden + 4}})
    status = json.loads(_run([*DVC, "status", "--json"], proj).strip().splitlines()[-1])
    # the report may be listed too (it reads every head's settings), and validate (it checks the whole params
    # file); nothing upstream and no other head is
    assert set(status) - {"report", "validate"} == {"train@gru"}
    # validate writes the same bytes again, so running it re-runs nothing that depends on it
    out = _run([*DVC, "repro"], proj)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert ran - {"validate"} == {"train@gru", "report"}
