"""The real weights-loading path of a timm id, offline: a tiny timm model's random weights saved as a checkpoint in a
temporary Hugging Face cache (HF_HUB_CACHE at tmp_path, HF_HUB_OFFLINE=1) and loaded the way extract loads them;
extract end to end with such an id (store under a subfolder, provenance with the weights file's sha256, predict's
path reproducing the store); the one-line error when the weights are missing offline, from the command itself.
Nothing is downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from framecache import layout
from framecache.backbones import build, specs, weights
from framecache.errors import FramecacheError
from framecache.features import embed
from framecache.features.inputs import expected_provenance
from framecache.features.store import FeatureStore
from framecache.fileio import file_sha256
from stages.extract import main as extract_main
from tests.builders import write_params

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_VIT = "timm/test_vit.r160_in1k"  # 64-wide ViT, a few hundred kB of weights
TINY_CNN = "timm/test_resnet.r160_in1k"
SMALL = {"image_size": 64, "num_frames": 3, "num_workers": 0, "batch_size": 4, "device": "cpu"}  # exact reproduction


def cache_random_weights(cache: Path, name: str, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A random-weight checkpoint of timm model ``name`` as `hf download` lays it out; returns (file, model)."""
    import timm
    from safetensors.torch import save_file

    repo = name.removeprefix("timm/")
    torch.manual_seed(seed)
    model = timm.create_model(repo, pretrained=False).eval()
    folder = cache / f"models--timm--{repo}"
    snapshot = folder / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text("0123456789abcdef")
    path = snapshot / "model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path, model


@pytest.mark.parametrize("name", [TINY_VIT, TINY_CNN])
def test_cached_checkpoint_loads_through_timms_pretrained_path(hf_cache, name):
    """The file in the cache is the one loaded (checksum recorded), and the features are timm's num_classes=0
    pooled pre-logits embedding of those weights."""
    import timm

    path, reference = cache_random_weights(hf_cache, name)
    assert weights.weights_path(name) == path
    bb = build.build_backbone(name, image_size=160)
    pooled = timm.create_model(name.removeprefix("timm/"), pretrained=False, num_classes=0).eval()
    assert bb.weights_sha256 == file_sha256(path) and bb.k == pooled.num_features == specs.get_spec(name).k
    pooled.load_state_dict({k: v for k, v in reference.state_dict().items() if not k.startswith("head.")}, strict=False)
    frames = torch.randint(0, 255, (2, 160, 160, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        x = bb.normalize(frames)
        assert torch.allclose(bb.model(x), pooled(x), atol=1e-4)
        assert torch.allclose(bb.head(bb.model(x)), reference(x), atol=1e-4)


def test_changed_checkpoint_changes_the_provenance(hf_cache):
    """A different file in the cache is a different weights_sha256: the store built with the old one is stale."""
    extract = {"backbone": TINY_CNN, "image_size": None, "dtype": "float16", "sampling": "uniform", "num_frames": 4,
               "fps": 2.0, "max_frames": 8, "short_videos": "keep"}  # fmt: skip
    path, _ = cache_random_weights(hf_cache, TINY_CNN, seed=0)
    before = expected_provenance(extract)
    assert before["weights_sha256"] == file_sha256(path) and before["k"] == 96 and before["backbone"] == TINY_CNN
    assert before["preprocessing"] == specs.preprocessing_for(TINY_CNN).as_dict()
    cache_random_weights(hf_cache, TINY_CNN, seed=1)
    assert expected_provenance(extract)["weights_sha256"] != before["weights_sha256"]


def test_missing_timm_weights_offline_is_one_line(hf_cache):
    with pytest.raises(FramecacheError) as err:
        build.build_backbone(TINY_VIT)
    message = str(err.value)
    assert "\n" not in message and "HF_HUB_OFFLINE=1" in message
    assert "model.safetensors of the Hugging Face repo timm/test_vit.r160_in1k" in message
    assert "`uv run python -m framecache.backbones.catalog fetch timm/test_vit.r160_in1k`" in message
    assert f"models--timm--test_vit.r160_in1k (under ~/.cache/huggingface/hub there) into {hf_cache}" in message


def test_missing_torchvision_weights_offline_is_one_line(hf_cache, tmp_path):
    with pytest.raises(FramecacheError) as err:
        build.build_backbone("torchvision/mobilenet_v3_small")
    message = str(err.value)
    assert "\n" not in message and "mobilenet_v3_small-047dcff4.pth" in message and "HF_HUB_OFFLINE=1" in message
    assert f"into {tmp_path / 'torch' / 'hub' / 'checkpoints'}" in message


def test_extract_with_a_timm_id_offline(hf_cache, tmp_path, extract_clip, extract_manifest):
    """The stage's own command with extract.backbone a Hugging Face id: the store lands in a subfolder of
    paths.features, records the checkpoint, and predict's feature path reproduces it."""
    rng = np.random.default_rng(0)
    clips = [
        extract_clip(tmp_path / "clips" / f"c{i}.mp4", [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)] * 6)
        for i in range(3)
    ]
    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    path, _ = cache_random_weights(hf_cache, TINY_VIT)
    params = write_params(tmp_path, extract={**SMALL, "backbone": TINY_VIT})
    out = layout.store_path(tmp_path / "features", TINY_VIT)
    assert out == tmp_path / "features" / "timm" / "test_vit.r160_in1k.h5"
    argv = ["--params", str(params), "--manifest", str(manifest), "--classes", str(classes), "--out", str(out),
            "--failures", str(tmp_path / "features" / "failures.csv"),
            "--metrics", str(tmp_path / "features" / "metrics.json")]  # fmt: skip
    assert extract_main(argv) == 0
    with FeatureStore.open(out) as store:
        prov = store.provenance
        X = store.load().X
    assert prov["backbone"] == TINY_VIT and prov["weights_sha256"] == file_sha256(path) and prov["k"] == 64
    assert prov["preprocessing"]["crop"] == 64 and prov["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert [x.shape for x in X] == [(3, 64)] * 3
    again = embed.features_for_videos(clips, prov, device="cpu", batch_size=4)
    for (feats, error), stored in zip(again, X, strict=True):
        assert error is None and np.array_equal(feats, stored)
    assert not list(out.parent.glob(".*tmp*"))  # written atomically: no temp file left beside it


def test_extract_command_without_the_weights_stops_at_once_with_one_line(tmp_path, extract_clip, extract_manifest):
    """The issue's check: extract.backbone timm/resnet18.a1_in1k, HF_HUB_OFFLINE=1 and an empty cache: exit 2,
    one line on stderr, no traceback, within seconds (most of them importing torch and timm)."""
    clip = extract_clip(tmp_path / "clips" / "c.mp4", [np.zeros((32, 32, 3), dtype=np.uint8)] * 4)
    manifest, classes = extract_manifest(tmp_path / "prepared", [clip])
    params = write_params(tmp_path, extract={**SMALL, "backbone": "timm/resnet18.a1_in1k"})
    out = layout.store_path(tmp_path / "features", "timm/resnet18.a1_in1k")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "t")}
    env.pop("HF_HUB_CACHE", None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "stages.extract", "--params", str(params), "--manifest", str(manifest),
         "--classes", str(classes), "--out", str(out), "--failures", str(tmp_path / "features" / "failures.csv"),
         "--metrics", str(tmp_path / "features" / "metrics.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: backbone timm/resnet18.a1_in1k: weights file model.safetensors")
    assert "fetch timm/resnet18.a1_in1k" in lines[0] and str(tmp_path / "hf" / "hub") in lines[0]
    assert not out.exists()
    assert seconds < 120, f"took {seconds:.0f} s"
    print(f"offline extract stopped after {seconds:.1f} s: {lines[0]}")
