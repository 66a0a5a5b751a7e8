"""Settings that several head types share, each declared once with its constraint and its README line."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from framecache.config.fields import Float, Int, Settings, strict_list
from framecache.heads.pooling import POOLINGS

Pooling = Annotated[
    Literal[POOLINGS],
    Field(
        description="frame pooling: mean, max, min, maxmin (max ‖ min), delta (max ‖ min over t of x[t+d] − x[t], "
        "zeros when T = 1), maxmin_delta (maxmin ‖ delta)"
    ),
]
DeltaStep = Annotated[Int, Field(ge=1, description="d of the delta pooling (capped at T − 1 for shorter videos)")]
PositiveFloats = strict_list(Annotated[Float, Field(gt=0)])
CGrid = Annotated[
    PositiveFloats,
    Field(
        min_length=1,
        description="inverse regularisation strengths tried; the one with the best validation accuracy (then "
        "log-loss) is kept",
    ),
]
C_GRID = [0.001, 0.01, 0.1, 1.0, 10.0]
ValFraction = Annotated[
    Float,
    Field(
        ge=0.05,
        le=0.5,
        description="share of train held out (stratified) for selection/early stopping when no validation split "
        "is given",
    ),
]
ClassWeight = Annotated[
    Literal["none", "balanced"], Field(description="weight classes inversely to their train frequency")
]
# a ``readout`` setting: parts of framecache.heads.readout.READOUTS, concatenated
Readout = Annotated[strict_list(Literal["last", "mean", "max"]), Field(min_length=1)]
READOUT_PARTS = "the parts concatenated: last valid state, mean and max of the outputs over valid steps"


# what a tiny torch fit needs to be fast and still learn something: few epochs, a high rate, no dropout
QUICK = {"max_epochs": 8, "patience": 3, "lr": 0.03, "dropout": 0.0, "input_dropout": 0.0, "dropout_grid": []}
_GRID = (
    "tried on validation besides `{0}` (every combination with the other grids; the one with the best validation "
    "accuracy at its restored epoch, then log-loss, is kept, as pooled heads choose C); [] keeps `{0}` fixed"
)


class TorchSettings(Settings):
    """The settings every torch head has (the training loop of :mod:`framecache.heads.neural` reads them)."""

    hidden: Int = Field(64, ge=1, description="hidden size (model width)")
    dropout: Float = Field(0.3, ge=0, le=0.9, description="dropout on the pooled representation (and between layers)")
    input_dropout: Float = Field(0.3, ge=0, le=0.9, description="dropout on each input feature vector")
    residual_pooling: Literal["none", "mean", "max", "min", "maxmin"] = Field(
        "max",
        description="a pooled head inside the temporal one: logistic regression on this pooling of the frames "
        "(C chosen on validation from the pooled heads' default C_grid) is fitted first and its logits are added to "
        "the net's, whose output starts at zero; epoch 0 is that pooled head, kept when no epoch lowers the "
        "validation loss; none = a plain net",
    )
    lr: Float = Field(0.003, gt=0, description="AdamW learning rate")
    weight_decay: Float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_epochs: Int = Field(0, ge=0, description="epochs over which the learning rate rises linearly to `lr`")
    label_smoothing: Float = Field(0.0, ge=0, le=0.5, description="label smoothing of the training loss")
    augment_speed: Float = Field(
        1.0,
        ge=1,
        le=4,
        description="training augmentation: each video resampled to T·f steps, f drawn log-uniformly from "
        "[1/augment_speed, augment_speed]; 1 = off",
    )
    augment_crop: Float = Field(
        1.0,
        gt=0,
        le=1,
        description="training augmentation: a random contiguous window of at least this share of the steps; 1 = off",
    )
    augment_drop: Float = Field(
        0.0, ge=0, le=0.9, description="training augmentation: each step dropped with this probability; 0 = off"
    )
    seeds: Int = Field(
        1, ge=1, description="nets trained from different seeds whose predictions are averaged (costs that many fits)"
    )
    hidden_grid: strict_list(Annotated[Int, Field(ge=1)]) = Field(
        [], description="hidden sizes " + _GRID.format("hidden")
    )
    dropout_grid: strict_list(Annotated[Float, Field(ge=0, le=0.9)]) = Field(
        [], description="dropout rates " + _GRID.format("dropout")
    )
    weight_decay_grid: strict_list(Annotated[Float, Field(ge=0)]) = Field(
        [], description="weight decays " + _GRID.format("weight_decay")
    )
    batch_size: Int = Field(32, ge=1, description="videos per optimisation step")
    max_epochs: Int = Field(100, ge=1, description="upper bound on training epochs")
    patience: Int = Field(
        5, ge=1, description="stop after this many epochs without a lower validation loss; best weights are restored"
    )
    max_len: Int | None = Field(
        None,
        ge=1,
        description="cap on time steps per video (longer ones are subsampled evenly and counted); null = no cap",
    )
    val_fraction: ValFraction = 0.2
    class_weight: ClassWeight = "none"
