"""What predict says about its inputs before any features are computed: a head that is defined but not trained
because train.heads lacks it, a broken symbolic link inside a folder, and a still image named like a video.
Extraction is a stub (tests/stages/test_predict.py runs it for real)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from framecache import heads, inference
from framecache.errors import FramecacheError
from framecache.features.store import EXTRACTOR_VERSION, SCHEMA_VERSION, FeatureStore
from stages import predict

K = 4
PROVENANCE = {
    "schema_version": SCHEMA_VERSION, "extractor_version": EXTRACTOR_VERSION, "backbone": "efficientnet_lite0",
    "weights_sha256": "0" * 64, "k": K, "dtype": "float32", "preprocessing": {"resize": 256, "crop": 224},
    "sampling": {"policy": "uniform", "num_frames": 2},
}  # fmt: skip


@pytest.fixture()
def project(tmp_path, monkeypatch, params_file, feature_store):
    params_file(paths={"features": "features", "models": "models"}, train={"heads": ["pool_mean"]})
    feature_store(tmp_path / "features" / "efficientnet_lite0.h5", PROVENANCE, ["a", "b"],
                  [("v0", np.zeros((2, K)), 0, "train")])  # fmt: skip
    X = [np.full((2, K), float(c), np.float32) + i / 10 for c in (0, 1) for i in range(4)]
    head = heads.build_head({"type": "pooled", "pooling": "mean"}, random_state=0).fit(X, np.repeat([0, 1], 4))
    with FeatureStore.open(tmp_path / "features" / "efficientnet_lite0.h5") as store:
        trained_on = dict(store.provenance)  # the head was trained on this store
    heads.save_head(head, tmp_path / "models" / "pool_mean" / "model.pkl", trained_on)
    asked = []

    def extract_features(paths, provenance, device, computed_as=()):
        asked.extend(paths)
        return [(np.ones((2, K), np.float32), None) for _ in paths]

    monkeypatch.setattr(inference, "extract_features", extract_features)
    monkeypatch.chdir(tmp_path)
    return types.SimpleNamespace(root=tmp_path, asked=asked)


def test_a_head_defined_but_not_in_train_heads_says_to_add_it(project):
    with pytest.raises(FramecacheError, match=r"'lstm' is defined under heads but not listed in train\.heads.*add"):
        predict.main(["x.mp4", "--head", "lstm"])


def test_a_broken_symbolic_link_in_a_folder_is_listed_as_failed(project, make_video, capsys):
    make_video(project.root / "clips" / "a.mp4", frames=3, size=16)
    (project.root / "clips" / "gone.mp4").symlink_to(project.root / "nowhere.mp4")
    (project.root / "lone.mp4").symlink_to(project.root / "nowhere.mp4")
    assert predict.main(["clips", "lone.mp4", "--head", "pool_mean"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["clips/a.mp4", "clips/gone.mp4", "lone.mp4"]
    assert "FAILED" not in lines[0] and all(line.split()[1] == "FAILED" for line in lines[1:])
    assert all("broken symbolic link" in line for line in lines[1:])
    assert project.asked == ["clips/a.mp4"]


def test_a_still_image_named_mp4_is_not_a_one_frame_video(project, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(project.root / "photo.png")
    (project.root / "photo.png").rename(project.root / "photo.mp4")
    assert predict.main(["photo.mp4", "--head", "pool_mean"]) == 1
    assert "a still image (PNG data), not a video" in capsys.readouterr().out
    assert project.asked == []
