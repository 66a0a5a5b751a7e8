"""The backbone catalogue command (python -m framecache.backbones.catalog): the aliases with whether their weights
are here, the timm and torchvision models cached on this machine, read without a network; `fetch` offline is the
same one-line error as extract's. Nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

from framecache.backbones import catalog
from framecache.cli import run
from tests.backbones.test_offline import cache_random_weights


@pytest.fixture
def caches(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_listing_names_aliases_and_what_is_cached(caches, tmp_path, capsys):
    from torchvision.models import ResNet18_Weights, resnet18

    cache_random_weights(caches, "timm/test_vit.r160_in1k")
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(resnet18().state_dict(), hub / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1])
    assert catalog.main([]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0" in out and "timm_resnet50" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "offline" in lines["efficientnet_lite0"] and "offline" in lines["resnet18"]
    assert "fetch on first use" in lines["resnet50"]
    assert "  timm/test_vit.r160_in1k" in out
    assert "  torchvision/resnet18:ResNet18_Weights.IMAGENET1K_V1" in out


def test_fetch_offline_is_the_one_line_error(caches, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(catalog.main, ["fetch", "timm/resnet18.a1_in1k"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: backbone timm/resnet18.a1_in1k: weights file model.safetensors")


def test_fetch_of_a_cached_model_prints_its_file(caches, capsys):
    path, _ = cache_random_weights(caches, "timm/test_vit.r160_in1k")
    assert catalog.main(["fetch", "timm/test_vit.r160_in1k"]) == 0
    assert capsys.readouterr().out.strip() == f"timm/test_vit.r160_in1k: {path}"
