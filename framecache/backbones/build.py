"""Building a backbone (an alias, a timm id or a torchvision id): the network with its classification layer
cut off, frozen, in eval mode, channels_last, with BatchNorms folded into the convolutions where that provably
keeps the features.

:func:`build_backbone` returns a :class:`Backbone`: the features module, the cut-off ImageNet head (kept for
checks), the preprocessing and the normalisation the frames go through on the model's device.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from framecache.backbones.specs import BackboneSpec, Preprocessing, get_spec, preprocessing_for, torchvision_weights
from framecache.backbones.weights import lite0_state_dict, weights_path, weights_sha256
from framecache.errors import FramecacheError


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


def _create(spec: BackboneSpec, pretrained: bool, image_size: int | None) -> tuple[nn.Module, nn.Module, str]:
    """(features module, cut-off head, weights sha256 or 'random-init')."""
    path = weights_path(spec.name) if pretrained else None  # fail fast, before building anything
    sha = weights_sha256(spec.name) if path is not None else "random-init"
    if spec.source == "lite0_wheel":
        import timm

        net = timm.create_model(spec.arch, pretrained=False)
        if path is not None:
            _load_strict(net, lite0_state_dict(net, path), spec, path)
        return _TimmFeatures(net), net.get_classifier(), sha
    if spec.source == "timm":
        net = _load_or_explain(spec, path, lambda: _timm_model(spec, path, image_size))
        return _TimmFeatures(net), net.get_classifier(), sha
    from torchvision import models

    weights = torchvision_weights(spec) if path is not None else None
    # with weights, torchvision's builder loads the file torch.hub cached (weights_path made sure it is there)
    net = _load_or_explain(spec, path, lambda: models.get_model(spec.arch, weights=weights, progress=True))
    return net, _cut_last_linear(net), sha


def _timm_model(spec: BackboneSpec, path: Path | None, image_size: int | None) -> nn.Module:
    """timm's own pretrained loading (its checkpoint filters, e.g. resampled position embeddings) from the
    fetched file; a ViT is built for ``image_size``."""
    import timm

    kwargs: dict[str, Any] = {"img_size": image_size} if spec.img_size_arg and image_size else {}
    if path is None:
        return timm.create_model(spec.weights, pretrained=False, **kwargs)
    return timm.create_model(spec.weights, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)


def _load_or_explain(spec: BackboneSpec, path: Path | None, make: Callable[[], nn.Module]) -> nn.Module:
    try:
        return make()
    except Exception as exc:  # a file that is not this architecture's checkpoint, or not a checkpoint at all
        if path is None:
            raise
        _explain(exc, spec, path)


def _load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], spec: BackboneSpec, path: Path) -> None:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        _explain(exc, spec, path)


def _explain(exc: Exception, spec: BackboneSpec, path: Path) -> NoReturn:
    first = " ".join(str(exc).splitlines()[0:3])
    raise FramecacheError(
        f"backbone {spec.name}: weights file {path} does not fit architecture {spec.arch} ({first[:300]}); "
        f"delete it and run the stage again to fetch {spec.weights}"
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
    device = next(model.parameters()).device
    for size in dict.fromkeys((max(32, min(crop, 96)), crop)):  # a ViT hybrid takes its own size only
        probe = torch.rand((2, 3, size, size), generator=torch.Generator().manual_seed(0)) * 4 - 2
        try:
            with torch.inference_mode():
                reference, candidate = model(probe.to(device)), folded(probe.to(device))
            break
        except Exception:
            continue
    else:
        return model, 0
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
        model, head, sha = _create(spec, pretrained=True, image_size=image_size)
    else:
        # random weights are created where they will live; device="meta" builds without allocating
        with device:
            model, head, sha = _create(spec, pretrained=False, image_size=image_size)
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


__all__ = ["Backbone", "build_backbone", "fold_batchnorm"]
