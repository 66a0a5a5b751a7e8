"""What a stage does in the temporary copy of the repository that `dvc exp run --queue` / `--temp` builds: it
stops at once, saying what to do, where the copy lacks dvc.lock (every video would be extracted again) or an
untracked dataset inside the repository; in the workspace itself, or outside DVC, it says nothing."""

from __future__ import annotations

import pytest

from framecache.errors import FramecacheError
from framecache.workspace import experiment_origin, refuse_copy_without_lock, refuse_dataset_missing_in_copy


@pytest.fixture
def repo_and_copy(tmp_path):
    repo, copy = tmp_path / "repo", tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12"
    copy.mkdir(parents=True)
    return repo, copy, {"DVC_ROOT": str(repo)}


def test_a_copy_is_told_from_the_workspace(repo_and_copy):
    repo, copy, env = repo_and_copy
    assert experiment_origin(copy, env) == repo.resolve()
    assert experiment_origin(repo, env) is None and experiment_origin(copy, {}) is None


def test_extract_stops_in_a_copy_built_without_the_lock_the_workspace_has(repo_and_copy):
    repo, copy, env = repo_and_copy
    refuse_copy_without_lock(copy, "extract", env)  # no lock anywhere: a first run, nothing to lose
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages:\n  validate: {}\n  extract: {}\n")
    # DVC wrote the copy's own dvc.lock as the stages before extract finished
    (copy / "dvc.lock").write_text("schema: '2.0'\nstages:\n  validate: {}\n")
    with pytest.raises(FramecacheError, match=r"built without .*dvc\.lock: git does not track it.*`git add dvc\.lock`"):
        refuse_copy_without_lock(copy, "extract", env)
    refuse_copy_without_lock(repo, "extract", env)  # the workspace itself
    (copy / "dvc.lock").write_text("schema: '2.0'\nstages:\n  validate: {}\n  extract: {}\n")
    refuse_copy_without_lock(copy, "extract", env)  # the copy has the workspace's lock: extract runs for a reason


def _paths(dataset):
    names = ("validated", "demo", "prepared", "features", "models", "report")
    return {"paths": {"dataset": dataset, **{k: f"data/{k}" for k in names}}}


def test_an_untracked_dataset_inside_the_repository_is_named_with_the_ways_out(repo_and_copy, tmp_path):
    repo, copy, env = repo_and_copy
    with pytest.raises(FramecacheError) as err:
        refuse_dataset_missing_in_copy(_paths("data/mini"), copy, env)
    message = str(err.value)
    assert "paths.dataset = 'data/mini' is inside the repository but tracked by neither git nor DVC" in message
    for remedy in ("`dvc add data/mini`", "`git add data/mini.dvc`", "absolute path", "--copy-paths data/mini"):
        assert remedy in message
    refuse_dataset_missing_in_copy(_paths("data/demo"), copy, env)  # the demo stage makes it in the copy
    refuse_dataset_missing_in_copy(_paths(str(tmp_path / "elsewhere")), copy, env)  # outside: prepare says
    refuse_dataset_missing_in_copy(_paths("data/mini"), repo, env)  # the workspace: prepare says
    (copy / "data" / "mini").mkdir(parents=True)
    refuse_dataset_missing_in_copy(_paths("data/mini"), copy, env)  # checked out by DVC, or copied in
