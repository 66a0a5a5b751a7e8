"""Which ``extract.image_size`` a backbone can take, checked when params load instead of deep in extraction.

CNNs take any size from 32 px up. A vision transformer does not: torchvision's ViTs run at the one size their
weights were trained at (``vit_b_16``: 224), and a timm ViT, built for the size asked (its position embeddings
resampled), needs a multiple of its patch (16 px for ``*_patch16_*``, 14 for DINOv2): some refuse any other
size, most would cut the last pixels of every row and column, which is refused here too. :func:`check_image_size`
builds the network on the meta device, as extraction would build it but without weights or memory, and runs
one forward pass at the size asked; a failure is refused with the library's own reason and the sizes the model
does take. The aliases are CNNs and are not built.
"""

from __future__ import annotations

from typing import Any

from framecache.backbones.names import ALIASES, BackboneSpec, parse
from framecache.errors import FramecacheError

TRIED = 4  # sizes tried on each side of a refused one, in steps of the patch


def _build(spec: BackboneSpec, size: int | None) -> Any:
    """The network extraction would build for ``size`` (None: the model's own), on the meta device."""
    import torch

    with torch.device("meta"):
        if spec.source == "timm":
            import timm

            try:  # a ViT, Swin, EVA, ... is built for the size (build.py passes img_size= to those)
                return timm.create_model(spec.weights, pretrained=False, **({"img_size": size} if size else {}))
            except TypeError:  # a CNN: no img_size argument
                return timm.create_model(spec.weights, pretrained=False)
        from torchvision import models

        net = models.get_model(spec.arch, weights=None)
        if hasattr(net, "image_size"):  # a ViT: the weights fix its size (as torchvision's builder sets it)
            own = models.get_weight(spec.weights).meta["min_size"][0]
            net = models.get_model(spec.arch, weights=None, image_size=own)
        return net


def _patch(net: Any) -> int | None:
    patch = getattr(getattr(net, "patch_embed", None), "patch_size", None)
    return int(patch[0]) if patch else None


def _failure(spec: BackboneSpec, size: int, net: Any = None) -> str | None:
    """Why the model cannot run at ``size`` (the library's reason first), or None when it can."""
    import torch

    try:
        net = net if net is not None else _build(spec, size)
        with torch.device("meta"), torch.no_grad():
            x = torch.empty((1, 3, size, size))
            if spec.source == "timm":
                net.forward_head(net.forward_features(x), pre_logits=True)
            else:
                net(x)
    except Exception as exc:  # whatever the library raises (AssertionError, RuntimeError, ...) is the reason
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    patch = _patch(net)
    if patch and size % patch:  # most timm ViTs run, cutting the last pixels of every row and column
        return f"not a multiple of its {patch}-px patches: the last {size % patch} px of each side would be lost"
    return None


def _own_size(spec: BackboneSpec, net: Any) -> int:
    if spec.source == "timm":
        from timm.models import get_pretrained_cfg

        return int(get_pretrained_cfg(spec.weights).input_size[-1])
    return int(getattr(net, "image_size", 224))


def _what_it_takes(spec: BackboneSpec, size: int, own: Any) -> str:
    """The sizes the model takes, in words: its own only, or multiples of its patch near ``size``."""
    own_size = _own_size(spec, own)
    if spec.source == "torchvision" and hasattr(own, "image_size"):
        return f"it runs at {own_size} only; set extract.image_size to {own_size}, or null"
    step = _patch(own) or 32
    base = size - size % step
    nearest = [s for i in range(TRIED) for s in (base - i * step, base + (i + 1) * step) if 32 <= s <= 1024]
    works: list[int] = []
    for candidate in nearest:  # each try builds the model on the meta device: stop at two
        if len(works) < 2 and _failure(spec, candidate) is None:
            works.append(candidate)
    if not works:
        return f"it runs at {own_size}; set extract.image_size to {own_size}, or null"
    shown = " or ".join(str(s) for s in sorted(works[:2]))
    return f"it takes multiples of {step} such as {shown} (its own: {own_size}); set one, or null for its own"


def check_image_size(name: str, size: int | None) -> None:
    """FramecacheError when backbone ``name`` cannot take ``size`` × ``size`` input, naming the sizes it can."""
    if size is None or name in ALIASES:
        return
    spec = parse(name)
    reason = _failure(spec, size)
    if reason is None:
        return
    raise FramecacheError(
        f"extract.image_size = {size} is not an input size {name} can take ({reason}): "
        f"{_what_it_takes(spec, size, _build(spec, None))}"
    )
