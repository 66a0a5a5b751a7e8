"""The ``rnn``, ``lstm`` and ``gru`` head types: one settings model, three cells."""

from __future__ import annotations

from pydantic import Field

from framecache.config.fields import Bool, Int
from framecache.heads.record import HeadType
from framecache.heads.specs.common import QUICK, READOUT_PARTS, Readout, TorchSettings


class RecurrentSettings(TorchSettings):
    layers: Int = Field(1, ge=1, description="stacked recurrent layers")
    bidirectional: Bool = Field(
        True, description="also read each video backwards (measured better at telling order on the demo)"
    )
    readout: Readout = Field(["last", "mean", "max"], description="video representation: " + READOUT_PARTS)


def _never_order_blind(settings: RecurrentSettings) -> bool:
    return False  # a recurrence reads the frames in sequence, in any configuration


RNN = HeadType(
    name="rnn",
    settings=RecurrentSettings,
    implementation="framecache.heads.recurrent:RNNHead",
    uses_torch=True,
    order_blind=_never_order_blind,
    tiny={"hidden": 8, **QUICK},
)
LSTM = HeadType(
    name="lstm",
    settings=RecurrentSettings,
    implementation="framecache.heads.recurrent:LSTMHead",
    uses_torch=True,
    order_blind=_never_order_blind,
    tiny={"hidden": 8, "bidirectional": True, **QUICK},
)
GRU = HeadType(
    name="gru",
    settings=RecurrentSettings,
    implementation="framecache.heads.recurrent:GRUHead",
    uses_torch=True,
    order_blind=_never_order_blind,
    tiny={"hidden": 8, "readout": ["mean", "max"], "layers": 2, **QUICK},
)
