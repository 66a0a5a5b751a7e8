"""The backbone registry: every backbone ``extract.backbone`` can name, as one :class:`BackboneSpec` record,
and the preprocessing each one expects.

A backbone turns a batch of RGB frames into pooled pre-logits features — the network with its last
classification layer removed (timm's ``num_classes=0`` path; for a ViT, its own pooling: class token or
average, as its config says) — of width ``k``. The aliases are fixed records
(:data:`framecache.backbones.names.ALIASES`); a timm id (``timm/<model>.<tag>``) or torchvision id
(``torchvision/<builder>[:<WEIGHTS>]``) becomes a record on first use, ``k`` read from the model built on the
meta device. The source decides where the weights file comes from (:mod:`framecache.backbones.weights`) and
how the network is built and cut (:mod:`framecache.backbones.build`). Preprocessing (resize, crop,
interpolation, mean/std) is read from the backbone's own metadata (timm's pretrained config, torchvision's
weights transforms), never typed in here, and is recorded in the feature store so predict reproduces it.

Importing this module does not load torch (timm and torchvision are imported when metadata is asked for).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from framecache.backbones.names import ALIASES, SOURCES, BackboneSpec, parse
from framecache.errors import FramecacheError
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


def backbone_names() -> list[str]:
    """The aliases (any timm or torchvision id is accepted too: see :mod:`framecache.backbones.names`)."""
    return sorted(ALIASES)


def get_spec(name: str) -> BackboneSpec:
    """The record of ``name`` (an alias, a timm id or a torchvision id) with its ``k``; an unknown name raises
    FramecacheError naming the closest known ones."""
    if name in ALIASES:
        return ALIASES[name]
    return _resolved(name)


@lru_cache(maxsize=64)
def _resolved(name: str) -> BackboneSpec:
    spec = parse(name)
    if spec.source == "timm":
        k, vit = _timm_width(spec.weights)
        return replace(spec, k=k, img_size_arg=vit)
    return replace(spec, k=_torchvision_width(spec.arch))


def _timm_width(model_tag: str) -> tuple[int, bool]:
    """(pre-logits width, whether it is built for an input size: ViT, Swin, EVA, ...) of a timm model, built on
    the meta device: nothing is allocated."""
    import timm
    import torch

    with torch.device("meta"):
        net = timm.create_model(model_tag, pretrained=False)
        size = timm_cfg(model_tag).input_size
        try:
            k = int(net.forward_head(net.forward_features(torch.empty((1, *size))), pre_logits=True).shape[-1])
        except Exception:  # pragma: no cover - an op without a meta kernel: timm's own attribute says it
            k = int(getattr(net, "head_hidden_size", None) or net.num_features)
    return k, "img_size" in inspect.signature(type(net)).parameters


def _torchvision_width(builder: str) -> int:
    """The input width of a torchvision classifier's last linear layer (built on the meta device)."""
    import torch
    from torchvision import models

    with torch.device("meta"):
        net = models.get_model(builder, weights=None)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return int(linears[-1].in_features)


# --------------------------------------------------------------------------------------------------------
# Preprocessing from each library's metadata


def timm_cfg(arch_or_tag: str) -> Any:
    """timm's pretrained config of an architecture or ``<arch>.<tag>`` (needs no weights file)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch_or_tag)
    if cfg is None:  # pragma: no cover - names are checked against timm's registry first
        raise FramecacheError(f"timm has no pretrained config for {arch_or_tag!r}")
    return cfg


def torchvision_weights(spec: BackboneSpec) -> Any:
    """The torchvision weights enum member of a ``torchvision`` entry (its URL, transforms, ...)."""
    from torchvision import models

    return models.get_weight(spec.weights)


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
        if data.get("crop_mode", "center") != "center":
            raise FramecacheError(
                f"backbone {name}: its preprocessing crops with mode {data['crop_mode']!r}; only centre crops "
                "are supported: choose another tag or model"
            )
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
