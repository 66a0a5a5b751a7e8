"""The whole pipeline (`dvc repro`: validate, demo, prepare, extract, train@<head>, report) on each distributed
layout (UCF101 archive, HMDB51 split files, Kinetics CSVs) in a throw-away copy of the project, with tiny generated
clips: prepare indexes what the layout lists, extract stores every prepared video, the heads are scored on exactly
the layout's official test videos (UCF101 split 1's test list, HMDB51's code-2 videos of split 1, the Kinetics
validate CSV, which prepare uses as test) with no test group in train or val, and the report covers every head.
Also the DVC behaviour the README documents: a broken symbolic link in the dataset folder stops DVC at its hashing
step, before prepare runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from framecache.layout import PREDICTIONS, head_dir
from tests.builders import read_rows, write_params
from tests.data.layouts import hmdb51, kinetics, ucf101

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DVC = [sys.executable, "-m", "dvc"]
HEADS = ("pool_mean", "gru")  # one pooled head, one torch head
NUM_FRAMES = 3


def _run(cmd, cwd, ok=True):
    env = {**os.environ, "PYTHONPATH": str(cwd), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
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


def _ucf101_tests(dataset: Path) -> set[str]:
    """File names of the entries of split 1's test list."""
    return {Path(entry).name for entry in ucf101(dataset)[1]}


def _hmdb51_tests(dataset: Path) -> set[str]:
    """File names marked 2 (test) in the split-1 files."""
    hmdb51(dataset)
    names = set()
    for split_file in (dataset / "testTrainMulti_7030_splits").glob("*_test_split1.txt"):
        names |= {line.split()[0] for line in split_file.read_text().splitlines() if line.split()[1:] == ["2"]}
    return names


def _kinetics_tests(dataset: Path) -> set[str]:
    """Clip file names of the validate CSV's rows that have a file (prepare uses validate as the test split)."""
    absent = set(kinetics(dataset))
    names = set()
    for row in read_rows(dataset / "validate.csv"):
        stem = f"{row['youtube_id']}_{int(row['time_start']):06d}_{int(row['time_end']):06d}"
        if stem not in absent:
            names.add(f"{stem}.mp4")
    return names


@pytest.mark.parametrize(
    ("build", "source", "videos", "tests"),
    [
        (_ucf101_tests, "split_lists", 12, 6),
        (_hmdb51_tests, "hmdb51_splits", 10, 4),
        (_kinetics_tests, "kinetics_csv", 11, 3),
    ],
    ids=["ucf101", "hmdb51", "kinetics"],
)
def test_dvc_repro_runs_the_whole_pipeline_on_each_layout(
    project, build: Callable[[Path], set[str]], source, videos, tests
):
    dataset = project / "data" / f"ds_{source}"  # inside the repository, as a user would unpack it
    official_tests = build(dataset)
    assert len(official_tests) == tests
    write_params(
        project / "params.yaml",
        paths={"dataset": str(dataset.relative_to(project))},
        demo={"clips_per_class": 4, "size": 32, "min_frames": 4, "max_frames": 6},
        extract={"num_frames": NUM_FRAMES, "image_size": 64, "batch_size": 8, "num_workers": 0},
        # holdout: the official test split is what is scored (auto would cross-validate these few videos)
        train={"heads": list(HEADS), "evaluation": "holdout"},
        report={"bootstrap": 200},
    )
    out = _run([*DVC, "repro"], project).stdout
    for stage in ("prepare", "extract", *(f"train@{h}" for h in HEADS), "report"):
        assert f"Running stage '{stage}'" in out

    summary = json.loads((project / "data" / "prepared" / "summary.json").read_text())
    assert (summary["source"], summary["videos"]) == (source, videos)
    assert summary["matching"]["matched"] == summary["matching"]["listed"] - (source == "kinetics_csv")

    extracted = json.loads((project / "data" / "features" / "metrics.json").read_text())
    assert (extracted["videos_stored"], extracted["frames"]) == (videos, videos * NUM_FRAMES)
    assert extracted["failures"] == 0

    # prepare's splits: the layout's test videos and nothing else; no group on both sides
    manifest = read_rows(project / "data" / "prepared" / "manifest.csv")
    assert {Path(r["path"]).name for r in manifest if r["split"] == "test"} == official_tests
    test_groups = {r["group"] for r in manifest if r["split"] == "test"}
    assert not test_groups & {r["group"] for r in manifest if r["split"] != "test"}
    assert {r["split"] for r in manifest} == {"train", "val", "test"}

    for head in HEADS:
        rows = read_rows(head_dir(project / "data" / "models", head) / PREDICTIONS)
        scored = {Path(r["video_id"]).name for r in rows if r["split"] == "test"}
        assert scored == official_tests
        assert not {Path(r["video_id"]).name for r in rows if r["split"] == "val"} & official_tests
        metrics = json.loads((head_dir(project / "data" / "models", head) / "metrics.json").read_text())
        assert metrics["test_videos"] == len(official_tests) and 0.0 <= metrics["test_top1"] <= 1.0

    assert (project / "data" / "report" / "report.html").stat().st_size > 1000
    report = json.loads((project / "data" / "report" / "summary.json").read_text())
    assert set(report["heads"]) == set(HEADS)


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
