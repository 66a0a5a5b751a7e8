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
import yaml

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
        # a GRU of few epochs and no grid: the tests below re-train it up to five times
        heads={"gru": {"max_epochs": 8, "patience": 3, "dropout_grid": []}},
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
    # train.evaluation: auto with 1 test video per class: group k-fold; _gNN_ names a group within its class, so
    # 3 classes x 4 numbers = 12 groups, at least train.folds: 5 folds
    assert 0.0 <= metrics["test_top1"] <= 1.0 and metrics["test_videos"] == 12
    assert (
        metrics["evaluation"] == "group_kfold"
        and metrics["folds"] == 5
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


def _call(cmd, cwd, timeout=600, **env):
    """Run a command in the project; returns the finished process (success not required)."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _queue_finished(proj: Path, names: set[str], timeout: float = 600) -> dict[str, str]:
    """Wait for the queued experiments ``names`` to finish; returns name -> status (Success, Failed)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        out = _run([*DVC, "queue", "status"], proj)
        status = {p[1]: p[-1] for line in out.splitlines() if len(p := line.split()) >= 4 and p[1] in names}
        if len(status) == len(names) and not {"Queued", "Running"} & set(status.values()):
            return status
        assert time.monotonic() < deadline, f"queued experiments still running after {timeout} s:\n{out}"
        time.sleep(2)


def _experiments(proj: Path) -> dict[str, dict]:
    """``dvc exp show --json``: experiment name -> its data (params and metrics by file)."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict) and "params" in node["data"]:
                found[node["name"]] = node["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(_run([*DVC, "exp", "show", "--json"], proj).strip().splitlines()[-1]))
    return found


def test_queued_experiments_on_heads_reuse_the_store_and_train_only_that_head(project):
    """`dvc exp run -S ... --queue` twice, then `dvc queue start -j 2`, as the README shows: each experiment runs in
    DVC's temporary copy of the repository, which gets dvc.lock (staged by `dvc repro`, core.autostage) and so the
    store and every other output from the cache: extract and the unchanged head do not run."""
    proj = project["proj"]
    assert "dvc.lock" in _run(["git", "diff", "--cached", "--name-only"], proj)  # core.autostage staged it
    features = proj / "data/features/metrics.json"
    names = {"gru-h5", "gru-h7"}
    for name in sorted(names):
        _run([*DVC, "exp", "run", "--queue", "-n", name, "-S", f"heads.gru.hidden={name[-1]}"], proj)
    try:
        _run([*DVC, "queue", "start", "-j", "2"], proj)
        assert _queue_finished(proj, names) == dict.fromkeys(names, "Success")
    finally:
        _call([*DVC, "queue", "stop"], proj)
    for name in names:
        log = _run([*DVC, "queue", "logs", name], proj)
        assert "Stage 'extract' didn't change, skipping" in log and "Running stage 'extract'" not in log, log
        assert "Stage 'train@pool_mean' didn't change, skipping" in log and "Running stage 'train@gru'" in log, log
    experiments = _experiments(proj)
    for name in names:
        data = experiments[name]
        assert data["params"]["params.yaml"]["data"]["heads"]["gru"]["hidden"] == int(name[-1])
        # the extraction metrics are the workspace's, bytes and all: the store was checked out, not rebuilt
        assert data["metrics"]["data/features/metrics.json"]["data"] == json.loads(features.read_text())


def test_an_untracked_dataset_inside_the_repository_is_named_in_a_temp_experiment(project):
    proj = project["proj"]
    params = (proj / "params.yaml").read_text()
    shutil.copytree(project["videos"], proj / "data/mini")
    try:
        write_params(proj / "params.yaml", read_yaml(proj / "params.yaml"), paths={"dataset": "data/mini"})
        proc = _call([*DVC, "exp", "run", "--temp", "-S", "heads.gru.hidden=3"], proj)
    finally:
        (proj / "params.yaml").write_text(params)
        shutil.rmtree(proj / "data/mini")
    assert proc.returncode != 0
    assert "paths.dataset = 'data/mini' is inside the repository but tracked by neither git nor DVC" in proc.stderr
    assert "`dvc add data/mini`" in proc.stderr and "--copy-paths data/mini" in proc.stderr


# Loaded into the train stage's process through PYTHONPATH: once train@gru has trained and written its outputs,
# params.yaml's heads.gru.hidden is edited, as a user may while the stage runs.
EDIT_DURING_TRAIN = """
import importlib.abc, importlib.util, os, sys

class _EditAfterTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "framecache.training.run":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            real = module.train_from_store

            def train_from_store(params, head, store, out):
                summary = real(params, head, store, out)
                if head == "gru":
                    import yaml
                    data = yaml.safe_load(open("params.yaml"))
                    data["heads"]["gru"]["hidden"] = int(os.environ["FRAMECACHE_TEST_HIDDEN"])
                    open("params.yaml", "w").write(yaml.safe_dump(data, sort_keys=False))
                return summary

            module.train_from_store = train_from_store

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _EditAfterTraining())
"""


def test_params_changed_while_a_head_trains_are_not_locked_and_the_next_repro_reruns_it(project, tmp_path):
    proj = project["proj"]
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(EDIT_DURING_TRAIN)
    hidden = read_yaml(proj / "params.yaml")["heads"]["gru"]["hidden"]
    write_params(proj / "params.yaml", read_yaml(proj / "params.yaml"), heads={"gru": {"hidden": hidden + 2}})
    proc = _call([*DVC, "repro"], proj, PYTHONPATH=f"{hook}{os.pathsep}{proj}", FRAMECACHE_TEST_HIDDEN=str(hidden + 6))
    assert proc.returncode != 0
    assert f"changed while train@gru ran: heads.gru.hidden: {hidden + 2} → {hidden + 6}" in proc.stderr
    lock = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]["train@gru"]
    assert lock["params"]["params.yaml"]["heads.gru"]["hidden"] == hidden  # the last run that finished, not 6
    out = _run([*DVC, "repro"], proj)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert ran - {"validate"} == {"train@gru", "report"}
    lock = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]["train@gru"]
    assert lock["params"]["params.yaml"]["heads.gru"]["hidden"] == hidden + 6
