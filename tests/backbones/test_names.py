"""Backbones by name (framecache.backbones.names, specs.get_spec): timm and torchvision ids beside the aliases,
checked against the libraries' own registries when params are loaded (close matches suggested), each one built
on the meta device without weights — CNNs and ViTs — with k read from the model and preprocessing from its
pretrained config. Nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

from framecache.backbones import build, names, specs
from framecache.config.params import ParamsError, validate
from framecache.errors import FramecacheError
from tests.builders import default_params, merged

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (name, architecture family) — timm CNNs and ViTs (CLIP, DINOv2, supervised), torchvision CNNs and a ViT
IDS = [
    "timm/resnet18.a1_in1k",
    "timm/convnext_tiny.fb_in22k",
    "timm/vit_small_patch16_224",
    "timm/vit_base_patch16_clip_224.openai",
    "timm/vit_small_patch14_dinov2.lvd142m",
    "vit_small_patch16_224.augreg_in21k_ft_in1k",
    "torchvision/resnet50",
    "torchvision/mobilenet_v3_small:IMAGENET1K_V1",
    "torchvision/vit_b_16:ViT_B_16_Weights.IMAGENET1K_V1",
]
# k the libraries document for these models
WIDTHS = {
    "timm/resnet18.a1_in1k": 512,
    "timm/convnext_tiny.fb_in22k": 768,
    "timm/vit_small_patch16_224": 384,
    "timm/vit_base_patch16_clip_224.openai": 768,  # pre-logits: before CLIP's 512-wide projection
    "timm/vit_small_patch14_dinov2.lvd142m": 384,
    "vit_small_patch16_224.augreg_in21k_ft_in1k": 384,
    "torchvision/resnet50": 2048,
    "torchvision/mobilenet_v3_small:IMAGENET1K_V1": 1024,
    "torchvision/vit_b_16:ViT_B_16_Weights.IMAGENET1K_V1": 768,
}


def extract_params(backbone: str) -> dict:
    return merged(default_params(), {"extract": {"backbone": backbone}})


def test_names_resolve_to_their_library_and_weights():
    assert names.parse("timm/resnet18").weights == "resnet18.a1_in1k"  # timm's default tag
    assert names.parse("resnet18.a1_in1k").source == "timm"
    tv = names.parse("torchvision/resnet50")
    assert (tv.source, tv.arch, tv.weights) == ("torchvision", "resnet50", "ResNet50_Weights.IMAGENET1K_V2")  # DEFAULT
    assert names.parse("torchvision/resnet50:IMAGENET1K_V1").weights == "ResNet50_Weights.IMAGENET1K_V1"
    assert names.parse("efficientnet_lite0") is names.ALIASES["efficientnet_lite0"]


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("resnet19", "'resnet18'"),
        ("vit_small_patch16_224", "'timm/vit_small_patch16_224'"),
        ("timm/resnet19.a1_in1k", "'timm/resnet18.a1_in1k'"),
        ("timm/resnet18.a1_in1kk", "'timm/resnet18.a1_in1k'"),
        ("timm/vit_small_patch14_dinov2.lvd124m", "'timm/vit_small_patch14_dinov2.lvd142m'"),
        ("torchvision/resnet51", "'torchvision/resnet50'"),
        ("torchvision/resnet50:IMAGENET1K_V3", "'torchvision/resnet50:ResNet50_Weights.IMAGENET1K_V1'"),
    ],
)
def test_unknown_names_are_rejected_at_params_load_with_close_matches(name, suggestion):
    with pytest.raises(ParamsError) as err:
        validate(extract_params(name))
    message = str(err.value)
    assert message.startswith(f"params: extract.backbone {name!r} is not ")
    assert "did you mean" in message and suggestion in message and "\n" not in message
    assert "python -m framecache.backbones.catalog" in message


@pytest.mark.parametrize("name", ["efficientnet_lite0", *IDS])
def test_known_names_pass_params_load(name):
    assert validate(extract_params(name)).extract["backbone"] == name


@pytest.mark.parametrize("name", [*specs.backbone_names(), *IDS])
def test_each_name_builds_on_the_meta_device_with_k_read_from_the_model(name):
    """No weights, nothing allocated: the features module gives (N, k) at the backbone's own input size."""
    spec = specs.get_spec(name)
    assert spec.k == WIDTHS.get(name, spec.k) > 0 and spec.source in names.SOURCES
    bb = build.build_backbone(name, device="meta", pretrained=False)
    crop = bb.preprocessing.crop
    feats = bb.model(bb.normalize(torch.zeros((2, crop, crop, 3), dtype=torch.uint8, device="meta")))
    assert tuple(feats.shape) == (2, bb.k) == (2, spec.k)
    assert bb.weights_sha256 == "random-init"


@pytest.mark.parametrize("name", ["timm/vit_small_patch14_dinov2.lvd142m", "timm/vit_base_patch16_clip_224.openai"])
def test_a_vit_is_built_for_the_configured_image_size(name):
    """DINOv2's own 518 px is costly: image_size 224 builds the ViT for 224 (timm resamples its position
    embeddings when the weights load)."""
    bb = build.build_backbone(name, device="meta", pretrained=False, image_size=224)
    assert bb.preprocessing.crop == 224
    feats = bb.model(bb.normalize(torch.zeros((1, 224, 224, 3), dtype=torch.uint8, device="meta")))
    assert tuple(feats.shape) == (1, bb.k)


@pytest.mark.parametrize("name", [n for n in IDS if "timm" in names.parse(n).source])
def test_timm_preprocessing_is_the_pretrained_config(name):
    import timm.data

    spec = specs.get_spec(name)
    cfg = timm.data.resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(spec.weights).to_dict())
    p = specs.preprocessing_for(name)
    assert p.crop == cfg["input_size"][-1] and p.interpolation == cfg["interpolation"]
    assert p.resize == int(p.crop / cfg["crop_pct"])
    assert p.mean == pytest.approx(cfg["mean"]) and p.std == pytest.approx(cfg["std"])


def test_torchvision_preprocessing_is_the_weights_transforms():
    from torchvision.models import ViT_B_16_Weights

    tf = ViT_B_16_Weights.IMAGENET1K_V1.transforms()
    p = specs.preprocessing_for("torchvision/vit_b_16:ViT_B_16_Weights.IMAGENET1K_V1")
    assert (p.resize, p.crop, p.interpolation) == (tf.resize_size[0], tf.crop_size[0], tf.interpolation.value)
    assert p.mean == pytest.approx(tuple(tf.mean)) and p.std == pytest.approx(tuple(tf.std))


def test_non_centre_crop_is_refused_with_a_reason(monkeypatch):
    import timm.data

    real = timm.data.resolve_data_config
    monkeypatch.setattr(timm.data, "resolve_data_config", lambda *a, **k: {**real(*a, **k), "crop_mode": "squash"})
    with pytest.raises(FramecacheError, match="crops with mode 'squash'"):
        specs.preprocessing_for("timm/resnet18.a1_in1k")
