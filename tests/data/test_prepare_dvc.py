"""`dvc repro prepare` on each distributed layout (UCF101 archive, HMDB51 split files, Kinetics CSVs) in a throw-away
copy of the project, with tiny generated clips — and the DVC behaviour the README documents: a broken symbolic link
in the dataset folder stops DVC at its hashing step, before prepare runs. (The stages after prepare are covered by
tests/test_pipeline.py; running them per layout would cost minutes.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import write_params
from tests.data.layouts import hmdb51, kinetics, ucf101

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]


def _run(cmd, cwd, ok=True):
    env = {**os.environ, "PYTHONPATH": str(cwd), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = tmp_path_factory.mktemp("dvc") / "project"
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in listed.splitlines():
        if (REPO / rel).is_file() and not rel.startswith(("tests/", "benchmarks/", "docs/")):
            (proj / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, proj / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=proj, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], cwd=proj, check=True)
    return proj


@pytest.mark.parametrize(
    ("layout", "source", "videos"),
    [(ucf101, "split_lists", 12), (hmdb51, "hmdb51_splits", 10), (kinetics, "kinetics_csv", 11)],
    ids=["ucf101", "hmdb51", "kinetics"],
)
def test_dvc_repro_prepare_on_each_layout(project, tmp_path, layout, source, videos):
    dataset = project / "data" / f"ds_{layout.__name__}"  # inside the repository, as a user would unpack it
    layout(dataset)
    write_params(project / "params.yaml", paths={"dataset": str(dataset.relative_to(project))})
    out = _run([*DVC, "repro", "prepare"], project).stdout
    assert "Running stage 'prepare'" in out
    summary = json.loads((project / "data" / "prepared" / "summary.json").read_text())
    assert (summary["source"], summary["videos"]) == (source, videos)
    assert summary["matching"]["matched"] == summary["matching"]["listed"] - (source == "kinetics_csv")


def test_a_broken_symlink_stops_dvc_before_prepare_and_dvcignore_fixes_it(project):
    dataset = project / "data" / "ds_broken"
    ucf101(dataset, groups=4)
    (dataset / "UCF-101" / "Typing" / "broken.avi").symlink_to(project / "nowhere.avi")
    write_params(project / "params.yaml", paths={"dataset": "data/ds_broken"})
    proc = _run([*DVC, "repro", "prepare"], project, ok=False)
    assert proc.returncode != 0 and "No such file or directory" in proc.stdout + proc.stderr
    assert "broken.avi" in proc.stdout + proc.stderr
    (project / ".dvcignore").write_text((project / ".dvcignore").read_text() + "\n/data/ds_broken/**/broken.avi\n")
    proc = _run([*DVC, "repro", "prepare"], project)
    assert "Running stage 'prepare'" in proc.stdout
    # prepare itself still sees the link, names it and leaves it out
    assert "1 unreadable entr(ies)" in proc.stdout + proc.stderr and "broken.avi (broken symbolic link)" in proc.stderr
    summary = json.loads((project / "data" / "prepared" / "summary.json").read_text())
    assert summary["videos"] == 12 and summary["unreadable_entries"] == 1
