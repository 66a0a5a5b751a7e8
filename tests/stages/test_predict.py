"""Tests for the predict command.

The command's own logic (inputs, per-file failures, top-k, table/JSON, exit status, using the store's
recorded configuration) is tested with a real trained head and a real feature store, with frame extraction
(``framecache.inference.extract_features``) stood in by a stub that records what it was asked. The end-to-end
test on a real shared clip and a corrupt file runs the real extraction and is skipped while the shared clips are
absent.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

from framecache import heads, inference
from framecache.errors import FramecacheError
from framecache.features.store import EXTRACTOR_VERSION, SCHEMA_VERSION
from stages import predict

CLASSES = ["bend", "jack", "walk"]
K = 6
PROVENANCE = {
    "schema_version": SCHEMA_VERSION, "extractor_version": EXTRACTOR_VERSION,
        "backbone": "efficientnet_lite0", "weights_sha256": "0" * 64, "k": K,
    "dtype": "float32", "preprocessing": {"resize": 256, "crop": 224},
    "sampling": {"policy": "uniform", "num_frames": 4},
}  # fmt: skip


def _features_for(path: str) -> np.ndarray:
    """Stub features: class c's videos (named "<class>...") sit around the c-th unit vector."""
    cls = next(i for i, c in enumerate(CLASSES) if Path(path).name.startswith(c))
    x = np.zeros((4, K), np.float32)
    x[:, cls] = 3.0
    return x


@pytest.fixture()
def project(tmp_path, monkeypatch, params_file, feature_store):
    """params.yaml, a feature store and a trained pooled head under tmp_path, plus a stub extraction."""
    params_file(
        paths={"features": str(tmp_path / "features"), "models": str(tmp_path / "models")},
        train={"heads": ["pool_mean"]},
        extract={"device": "cpu"},
    )
    feature_store(
        tmp_path / "features" / "efficientnet_lite0.h5", PROVENANCE, CLASSES, [("v0", np.zeros((2, K)), 0, "train")]
    )
    rng = np.random.default_rng(0)
    X = [_features_for(f"{c}{i}") + rng.normal(0, 0.3, (4, K)).astype(np.float32) for c in CLASSES for i in range(8)]
    y = np.repeat(np.arange(len(CLASSES)), 8)
    head = heads.build_head({"type": "pooled", "pooling": "mean"}, random_state=0).fit(X, y)
    store = tmp_path / "features" / "efficientnet_lite0.h5"
    heads.save_head(head, tmp_path / "models" / "pool_mean" / "model.pkl", {**PROVENANCE, "store": str(store)})

    videos = tmp_path / "videos"
    (videos / "more").mkdir(parents=True)
    for name in ("walk_1.mp4", "more/jack_2.AVI", "more/notes.txt"):
        (videos / name).write_bytes(b"x")
    (videos / "broken.mp4").write_bytes(b"")

    calls, computed = [], []

    def extract_features(paths, provenance, device, computed_as=()):
        calls.append((list(paths), provenance, device))
        computed.append(list(computed_as))
        return [
            (None, "empty file (0 bytes)") if Path(p).stat().st_size == 0 else (_features_for(p), None) for p in paths
        ]

    monkeypatch.setattr(inference, "extract_features", extract_features)
    monkeypatch.chdir(tmp_path)
    return types.SimpleNamespace(root=tmp_path, videos=videos, calls=calls, computed=computed)


def test_table_lists_label_and_top_k(project, capsys):
    assert predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--top-k", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["video", "label", "top-k", "probabilities"]
    path, label, first, p1, second, p2 = out[1].replace(",", "").split()
    assert (path, label, first) == ("videos/walk_1.mp4", "walk", "walk")
    assert second in CLASSES and float(p1) > float(p2) > 0
    assert len(out) == 2


def test_store_provenance_and_device_reach_extraction(project, capsys):
    predict.main(["videos/walk_1.mp4", "--head", "pool_mean"])
    ((paths, provenance, device),) = project.calls
    assert paths == ["videos/walk_1.mp4"]
    # the store's recorded configuration, not the current params (a store without a decoder: the CPU's)
    assert provenance == {**PROVENANCE, "decoder": "cpu"}
    assert device == "cpu"
    predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--device", "auto"])
    assert project.calls[-1][2] == "auto"


def test_folders_bad_files_and_json(project, capsys):
    code = predict.main(["videos", "missing.mp4", "--head", "pool_mean", "--json", "--top-k", "10"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["head"] == "pool_mean"
    results = {r["path"]: r for r in doc["results"]}
    # folders are searched recursively for video extensions (any case); other files are ignored
    assert list(results) == ["videos/broken.mp4", "videos/more/jack_2.AVI", "videos/walk_1.mp4", "missing.mp4"]
    assert results["videos/more/jack_2.AVI"]["label"] == "jack"
    assert results["videos/walk_1.mp4"]["label"] == "walk"
    top = results["videos/walk_1.mp4"]["top_k"]
    assert len(top) == len(CLASSES)  # k capped at the number of classes
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
    assert results["videos/broken.mp4"] == {"path": "videos/broken.mp4", "label": None, "top_k": [],
                                            "error": "empty file (0 bytes)"}  # fmt: skip
    assert results["missing.mp4"]["error"] == "file not found"


def test_exit_status_is_1_only_when_every_file_failed(project, capsys):
    assert predict.main(["videos/broken.mp4", "videos/walk_1.mp4", "--head", "pool_mean"]) == 0
    assert predict.main(["videos/broken.mp4", "nothing_here", "--head", "pool_mean"]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "empty file (0 bytes)" in captured.out
    assert "2 of 2 input(s) could not be predicted" in captured.err
    empty = project.root / "empty"
    empty.mkdir()
    assert predict.main(["empty", "--head", "pool_mean"]) == 1
    assert "folder holds no video files" in capsys.readouterr().out


def test_unknown_head_lists_the_trained_ones(project):
    with pytest.raises(FramecacheError, match=r"no trained head 'pool_maen'.*did you mean 'pool_mean'"):
        predict.main(["videos/walk_1.mp4", "--head", "pool_maen"])


def test_missing_store_is_a_clear_error(project):
    with pytest.raises(FramecacheError, match=r"feature store .* not found"):
        predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--store", "elsewhere.h5"])


def test_help_states_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    assert "1 when every file failed" in capsys.readouterr().out


@pytest.mark.slow
def test_real_clip_and_corrupt_file_end_to_end(tmp_path, weizmann64, extract_manifest, params_file, capsys):
    """The extract stage builds a real store from shared clips, a head is trained on it; predict on one of
    those clips must give exactly the probabilities the head gives the stored features (same stage-1
    configuration, bit for bit), and a corrupt file is reported on its own line."""
    import pandas as pd

    from stages import extract

    params_file(
        paths={"features": str(tmp_path / "features"), "models": str(tmp_path / "models")},
        train={"heads": ["pool_mean"]},
        extract={"num_frames": 2, "device": "cpu", "num_workers": 0},
    )

    # one real clip of each of the four actions through the extract stage
    manifest = pd.read_csv(weizmann64 / "manifest.csv").groupby("label").head(1)
    clips = [weizmann64 / p for p in manifest["path"]]
    csv_path, classes_path = extract_manifest(tmp_path / "prepared", clips, list(manifest["label"]))
    store = tmp_path / "features" / "efficientnet_lite0.h5"
    assert extract.main([
        "--params", str(tmp_path / "params.yaml"), "--manifest", str(csv_path), "--classes", str(classes_path),
        "--out", str(store), "--failures", str(tmp_path / "features" / "failures.csv"),
        "--metrics", str(tmp_path / "features" / "metrics.json"),
    ]) == 0  # fmt: skip
    from framecache.features.store import FeatureStore

    with FeatureStore.open(store) as fs:
        data = fs.load()
        classes = fs.classes
    head = heads.build_head({"type": "pooled", "pooling": "mean"}, random_state=0)
    head.fit(data.X, data.y, X_val=data.X, y_val=data.y)
    with FeatureStore.open(store) as fs:
        trained_on = {**fs.provenance, "store": str(store)}
    heads.save_head(head, tmp_path / "models" / "pool_mean" / "model.pkl", trained_on)
    target = data.ids.index(clips[0].name)
    want = head.predict_proba([data.X[target]])[0]

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(clips[0].read_bytes()[:2000])
    code = predict.main([str(clips[0]), str(corrupt), "--head", "pool_mean", "--json", "--top-k", "10",
                         "--params", str(tmp_path / "params.yaml")])  # fmt: skip
    assert code == 0
    good, bad = json.loads(capsys.readouterr().out)["results"]
    assert good["error"] is None and good["label"] == manifest["label"].iloc[0]
    got = {t["label"]: t["probability"] for t in good["top_k"]}
    assert set(got) == set(classes)
    np.testing.assert_allclose([got[c] for c in classes], want, atol=1e-6)
    assert bad["label"] is None and bad["error"]


def test_store_from_other_feature_code_is_refused(project, feature_store):
    """New videos would get features from other code than the head was trained on: refuse, say what to do."""
    old = {**PROVENANCE, "extractor_version": EXTRACTOR_VERSION + 1}
    store = feature_store(project.root / "old.h5", old, CLASSES, [("v0", np.zeros((2, K)), 0, "train")])
    with pytest.raises(FramecacheError, match=r"other feature code.*re-run `dvc repro`"):
        predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--store", str(store)])


@pytest.mark.parametrize(
    ("change", "named"),
    [({"backbone": "timm/efficientnet_b0.ra_in1k"}, "backbone: the store has 'timm/efficientnet_b0.ra_in1k'"),
     ({"weights_sha256": "1" * 64}, "weights_sha256: the store has '1111"),
     ({"sampling": {"policy": "uniform", "num_frames": 8}}, "sampling.num_frames: the store has 8")],
)  # fmt: skip
def test_a_store_with_other_features_than_the_head_was_trained_on_is_refused(project, feature_store, change, named):
    """The same width is not the same features: --store naming a store of another backbone (or other weights,
    or other sampling) is refused, naming what the head was trained on and what the store holds."""
    other = feature_store(project.root / "other.h5", {**PROVENANCE, **change}, CLASSES,
                          [("v0", np.zeros((2, K)), 0, "train")])  # fmt: skip
    with pytest.raises(FramecacheError) as err:
        predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--store", str(other)])
    message = str(err.value)
    assert named in message and "the head was trained on" in message
    assert "head 'pool_mean' was trained on efficientnet_lite0 features" in message
    assert "--store " + str(project.root / "features" / "efficientnet_lite0.h5") in message
    assert project.calls == []  # refused before any video is decoded


def test_a_model_file_without_its_training_record_is_refused(project):
    head = heads.load_head(project.root / "models" / "pool_mean" / "model.pkl")
    heads.save_head(head, project.root / "models" / "pool_mean" / "model.pkl")
    with pytest.raises(FramecacheError, match=r"does not record the features head 'pool_mean' was trained on"):
        predict.main(["videos/walk_1.mp4", "--head", "pool_mean"])


def test_how_the_store_was_computed_reaches_extraction(project):
    """The store's per-video compute labels go to feature extraction, which computes new videos the same way
    where it can and otherwise says how far they differ (tests/features/test_extraction.py)."""
    from framecache.features.store import StoreWriter, VideoFeatures

    path = project.root / "gpu.h5"
    with StoreWriter(path, PROVENANCE, CLASSES) as writer:
        for i, compute in enumerate(["cuda/bfloat16", "cuda/bfloat16", "cpu/fp32"]):
            writer.append(VideoFeatures(f"v{i}", np.zeros((2, K)), np.arange(2), np.arange(2) / 2.0, compute=compute))
    predict.main(["videos/walk_1.mp4", "--head", "pool_mean", "--store", str(path)])
    assert project.computed[-1] == ["cpu/fp32", "cuda/bfloat16"]
