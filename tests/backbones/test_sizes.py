"""extract.image_size against what the backbone can take, checked when params load (on the meta device, no
weights): a torchvision ViT runs at its own size only, a timm ViT at multiples of its patch; a size it cannot
take is refused with the sizes it can, instead of a traceback in the middle of extraction."""

from __future__ import annotations

import pytest

from framecache.config.params import ParamsError, validate
from tests.builders import default_params, merged

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _validate(backbone: str, image_size: int | None):
    return validate(merged(default_params(), {"extract": {"backbone": backbone, "image_size": image_size}}))


@pytest.mark.parametrize(
    ("backbone", "size", "message"),
    [
        ("torchvision/vit_b_16", 160,
         r"extract\.image_size = 160 is not an input size torchvision/vit_b_16 can take \(Wrong image height.*\): "
         r"it runs at 224 only; set extract\.image_size to 224, or null"),
        ("timm/test_vit.r160_in1k", 100,
         r"extract\.image_size = 100 is not an input size timm/test_vit\.r160_in1k can take \(Input height \(100\) "
         r"should be divisible by patch size \(16\)\.\): it takes multiples of 16 such as 96 or 112 \(its own: 160\)"),
        ("timm/vit_small_patch14_dinov2.lvd142m", 100,
         r"\(not a multiple of its 14-px patches: the last 2 px of each side would be lost\): it takes multiples of "
         r"14 such as 98 or 112 \(its own: 518\)"),
    ],
)  # fmt: skip
def test_a_size_the_model_cannot_take_is_refused_with_the_sizes_it_can(backbone, size, message):
    with pytest.raises(ParamsError, match=message):
        _validate(backbone, size)


@pytest.mark.parametrize(
    ("backbone", "size"),
    [("torchvision/vit_b_16", 224), ("torchvision/vit_b_16", None), ("timm/test_vit.r160_in1k", 96),
     ("timm/vit_small_patch14_dinov2.lvd142m", 98), ("torchvision/resnet18", 100), ("efficientnet_lite0", 100)],
)  # fmt: skip
def test_sizes_the_model_takes_pass(backbone, size):
    assert _validate(backbone, size)["extract"]["image_size"] == size
