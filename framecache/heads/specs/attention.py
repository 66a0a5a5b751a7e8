"""The ``attention`` head type: learned attention pooling, order-aware only with time encodings."""

from __future__ import annotations

from pydantic import Field

from framecache.config.fields import Bool, Int
from framecache.heads.record import HeadType
from framecache.heads.specs.common import QUICK, TorchSettings


class AttentionSettings(TorchSettings):
    attention_hidden: Int = Field(32, ge=1, description="width of the attention scoring network")
    positional: Bool = Field(
        True, description="add sinusoidal time encodings before scoring (false makes the head order-blind)"
    )


def _without_time_encodings(settings: AttentionSettings) -> bool:
    # without positions the scores and the weighted mean are permutation-invariant
    return not settings.positional


ATTENTION = HeadType(
    name="attention",
    settings=AttentionSettings,
    implementation="framecache.heads.attention:AttentionHead",
    uses_torch=True,
    order_blind=_without_time_encodings,
    tiny={"hidden": 8, "attention_hidden": 4, **QUICK},
)
