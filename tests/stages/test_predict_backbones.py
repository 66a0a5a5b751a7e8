"""Predict with a head trained on another backbone's features, end to end and offline: two tiny timm models with
random weights in a temporary Hugging Face cache (as tests/backbones/test_offline.py caches them; nothing is
downloaded) and the same feature width k = 64, each extracted by the extract command; the train command fits a
head on the first store; predict with the second store — by --store or by extract.backbone — refuses, naming
both backbones, where it used to answer as if the features were the ones the head knows."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from framecache import heads, layout
from framecache.errors import FramecacheError
from framecache.features.store import FeatureStore
from stages import extract, predict, train
from tests.backbones.test_offline import cache_random_weights
from tests.builders import write_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FIRST, SECOND = "timm/test_vit.r160_in1k", "timm/test_convnext.r160_in1k"  # both 64 features per frame
SMALL = {"image_size": 64, "num_frames": 2, "num_workers": 0, "batch_size": 4, "device": "cpu"}


@pytest.fixture
def offline_cache(hf_cache):
    """The offline Hugging Face cache of test_offline, holding both models' random weights."""
    for name in (FIRST, SECOND):
        cache_random_weights(hf_cache, name)
    return hf_cache


def test_predict_refuses_a_head_trained_on_another_backbone(tmp_path, offline_cache, extract_clip, extract_manifest):
    rng = np.random.default_rng(3)
    labels = ["cat", "rocket"] * 4
    splits = ["train", "train", "train", "train", "val", "val", "test", "test"]
    clips = [extract_clip(tmp_path / "clips" / f"{lab}_{i}.mp4", [rng.integers(0, 255, (32, 32, 3), np.uint8)] * 4)
             for i, lab in enumerate(labels)]  # fmt: skip
    manifest, classes = extract_manifest(tmp_path / "prepared", clips, labels, splits)
    features, models = tmp_path / "features", tmp_path / "models"
    paths = {"features": str(features), "models": str(models)}
    train_params = {"heads": ["pool_mean"], "device": "cpu"}
    for name in (FIRST, SECOND):
        params = write_params(tmp_path / f"{name.split('/')[1]}.yaml", paths=paths, train=train_params,
                              extract={**SMALL, "backbone": name})  # fmt: skip
        assert extract.main(["--params", str(params), "--manifest", str(manifest), "--classes", str(classes),
                             "--out", str(layout.store_path(features, name)), "--failures", str(features / "f.csv"),
                             "--metrics", str(features / "m.json")]) == 0  # fmt: skip
    first, second = layout.store_path(features, FIRST), layout.store_path(features, SECOND)
    with FeatureStore.open(first) as a, FeatureStore.open(second) as b:
        assert a.k == b.k == 64 and a.provenance["backbone"] != b.provenance["backbone"]

    params = tmp_path / "test_vit.r160_in1k.yaml"
    assert train.main(["--params", str(params), "--head", "pool_mean", "--store", str(first),
                       "--out", str(models / "pool_mean")]) == 0  # fmt: skip
    _, trained_on = heads.load_model(models / "pool_mean" / layout.MODEL)
    assert trained_on["backbone"] == FIRST and trained_on["store"] == str(first)
    with FeatureStore.open(first) as a:
        assert {k: trained_on[k] for k in a.provenance} == a.provenance

    # the store it was trained on: predicted
    assert predict.main([str(clips[6]), "--head", "pool_mean", "--params", str(params), "--json"]) == 0
    # the other backbone's store, named by --store or by the params' extract.backbone: refused, naming both
    other_params = tmp_path / "test_convnext.r160_in1k.yaml"
    for argv in (["--params", str(params), "--store", str(second)], ["--params", str(other_params)]):
        with pytest.raises(FramecacheError) as err:
            predict.main([str(clips[6]), "--head", "pool_mean", *argv])
        message = str(err.value)
        assert f"head 'pool_mean' was trained on {FIRST} features" in message
        assert f"feature store {second} holds {SECOND} features" in message
        assert f"backbone: the store has '{SECOND}', the head was trained on '{FIRST}'" in message
        assert f"--store {first}" in message
    assert yaml.safe_load(other_params.read_text())["extract"]["backbone"] == SECOND
