"""Tests of the train stage entry point: params + feature store in, the stage's output files out (holdout and
group k-fold), and group k-fold end to end on real clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from framecache import heads, layout
from framecache.errors import FramecacheError
from stages.train import main
from tests.builders import store_provenance, write_params

ROOT = Path(__file__).resolve().parents[2]
K = 6
CLASSES = ["fade_in", "fade_out", "still"]


@pytest.fixture()
def project(tmp_path, params_file, feature_store):
    """params.yaml with two cheap heads and a small feature store; the store's provenance is what params want."""
    path = params_file(
        train={"heads": ["pool_mean", "gru"], "repeats": 2, "device": "cpu", "evaluation": "holdout"},
        heads={"gru": {"hidden": 8, "max_epochs": 4, "patience": 2}},
    )
    params = yaml.safe_load(path.read_text())
    rng = np.random.default_rng(0)
    videos = []
    for c in range(len(CLASSES)):
        for i in range(8):
            T = int(rng.integers(1, 5))
            ramp = np.linspace(0, 1, T)[:, None] if c < 2 else np.full((T, 1), 0.5)
            feats = (ramp if c != 1 else ramp[::-1]) * np.ones(K) + rng.normal(0, 0.1, (T, K)) + (c == 2)
            split = "train" if i < 4 else "val" if i < 6 else "test"
            videos.append((f"{CLASSES[c]}/{i}.mp4", feats, c, split))
    feature_store(tmp_path / "features.h5", store_provenance(params["extract"], K), CLASSES, videos)
    return tmp_path


def run(project: Path, head: str) -> Path:
    out = project / "models" / head
    main(["--params", str(project / "params.yaml"), "--head", head, "--store", str(project / "features.h5"),
          "--out", str(out)])  # fmt: skip
    return out


@pytest.mark.parametrize("head", ["pool_mean", "gru"])
def test_main_writes_the_four_outputs(project, head):
    out = run(project, head)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["repeats"] == 2 and metrics["test_videos"] == 6 and metrics["classes"] == 3
    assert 0.0 <= metrics["test_top1"] <= 1.0 and "val_log_loss_std" in metrics
    pred = pd.read_csv(out / "predictions.csv")
    assert set(pred["label"]) == set(CLASSES) and len(pred) == 2 * (6 + 6)
    assert {f"p_{c}" for c in CLASSES} <= set(pred.columns)
    assert not pd.read_csv(out / "selection.csv").empty
    model = heads.load_head(out / "model.pkl")
    assert model.get_params()["random_state"] == yaml.safe_load((project / "params.yaml").read_text())["seed"]
    # the files layout names for the stage (dvc.yaml declares the same), no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == sorted(layout.STAGE_OUTPUTS["train"])
    plots = sorted(p.name for p in (out / layout.PLOTS_DIR).iterdir())
    assert plots == (["confusion.png", "curve.csv", "curve.png"] if head == "gru" else ["confusion.png"])


def test_group_kfold_predicts_every_video_of_the_store_out_of_fold(project, params_file):
    params_file(
        train={"heads": ["pool_mean", "gru"], "repeats": 1, "device": "cpu", "evaluation": "group_kfold", "folds": 3},
        heads={"gru": {"hidden": 8, "max_epochs": 4, "patience": 2, "dropout_grid": []}},
    )
    for head in ("pool_mean", "gru"):
        out = run(project, head)
        pred = pd.read_csv(out / layout.PREDICTIONS)
        test = pred[pred["split"] == "test"]
        assert len(test) == 24 and test["video_id"].is_unique and set(test["fold"]) == {0, 1, 2}
        metrics = json.loads((out / layout.METRICS).read_text())
        assert metrics["evaluation"] == "group_kfold" and metrics["folds"] == 3 and metrics["test_videos"] == 24


def test_unknown_head_lists_the_defined_ones(project):
    with pytest.raises(FramecacheError, match=r"'lstmm'.*did you mean 'lstm'.*defined: .*pool_mean"):
        run(project, "lstmm")


@pytest.mark.parametrize(("key", "value"), [("num_frames", 8), ("dtype", "float32"), ("backbone", "resnet18")])
def test_store_extracted_with_other_params_is_refused(project, key, value):
    write_params(project / "params.yaml", yaml.safe_load((project / "params.yaml").read_text()), extract={key: value})
    with pytest.raises(FramecacheError, match=rf"stale.*{key}"):
        run(project, "pool_mean")
    assert not (project / "models" / "pool_mean").exists()


def test_command_line_reports_user_errors_in_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train", "--params", str(tmp_path / "missing.yaml"), "--head", "x",
         "--store", "s.h5", "--out", str(tmp_path / "o")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: params: file") and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_group_kfold_end_to_end_on_real_clips(tmp_path, weizmann64, params_file):
    """Weizmann-64 (72 clips, 4 actions, mirrored twins share a group) through prepare and extract at 64 px and
    4 frames, then train@pool_max and train@gru with group k-fold: all 72 videos predicted once, out of fold,
    and no mirror pair split between folds."""
    from framecache.config.params import load_params
    from framecache.data.prepare import prepare_dataset
    from stages import extract

    path = params_file(
        train={"heads": ["pool_max", "gru"], "device": "cpu", "evaluation": "group_kfold", "folds": 4},
        extract={"image_size": 64, "num_frames": 4, "device": "cpu", "num_workers": 0},
        heads={"gru": {"hidden": 16, "max_epochs": 15, "patience": 3, "dropout_grid": []}},
    )
    prepared, features = tmp_path / "prepared", tmp_path / "features"
    prepare_dataset(weizmann64, prepared, load_params(path))
    store = features / "efficientnet_lite0.h5"
    assert extract.main([
        "--params", str(path), "--manifest", str(prepared / "manifest.csv"),
        "--classes", str(prepared / "classes.txt"), "--out", str(store),
        "--failures", str(features / "failures.csv"), "--metrics", str(features / "metrics.json"),
    ]) == 0  # fmt: skip
    manifest = pd.read_csv(prepared / "manifest.csv")
    group_of = dict(zip(manifest["video_id"], manifest["group"], strict=True))
    for head in ("pool_max", "gru"):
        out = tmp_path / "models" / head
        main(["--params", str(path), "--head", head, "--store", str(store), "--out", str(out)])
        test = pd.read_csv(out / layout.PREDICTIONS).query("split == 'test'")
        assert sorted(test["video_id"]) == sorted(manifest["video_id"])  # every video, once
        assert (test.assign(group=test["video_id"].map(group_of)).groupby("group")["fold"].nunique() == 1).all()
        metrics = json.loads((out / layout.METRICS).read_text())
        assert metrics["evaluation"] == "group_kfold" and metrics["test_videos"] == 72 and metrics["groups"] == 36
        assert metrics["test_top1"] > 0.3  # above the 25% of guessing among 4 actions (tiny settings, 4 frames)
