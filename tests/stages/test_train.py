"""Tests of the train stage entry point: params + feature store in, the four output files out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from framecache import heads
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
        train={"heads": ["pool_mean", "gru"], "repeats": 2, "device": "cpu"},
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
    assert not pd.read_csv(out / "curve.csv").empty
    model = heads.load_head(out / "model.pkl")
    assert model.get_params()["random_state"] == yaml.safe_load((project / "params.yaml").read_text())["seed"]
    # no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == ["curve.csv", "metrics.json", "model.pkl", "predictions.csv"]


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
