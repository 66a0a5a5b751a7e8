"""The ``transformer`` head type: a small encoder with positional encodings (always order-aware)."""

from __future__ import annotations

from pydantic import Field

from framecache.config.fields import Int
from framecache.heads.record import HeadType
from framecache.heads.specs.common import QUICK, READOUT_PARTS, Readout, TorchSettings


class TransformerSettings(TorchSettings):
    layers: Int = Field(1, ge=1, description="encoder layers")
    num_heads: Int = Field(4, ge=1, description="attention heads per layer (must divide hidden)")
    feedforward: Int = Field(128, ge=1, description="width of each layer's feed-forward block")
    readout: Readout = Field(
        ["mean", "max"], description="video representation: " + READOUT_PARTS.replace("state", "output")
    )


def _never_order_blind(settings: TransformerSettings) -> bool:
    return False  # positional encodings are always added


TRANSFORMER = HeadType(
    name="transformer",
    settings=TransformerSettings,
    implementation="framecache.heads.transformer:TransformerHead",
    uses_torch=True,
    order_blind=_never_order_blind,
    tiny={"hidden": 8, "num_heads": 2, "feedforward": 16, **QUICK},
)
