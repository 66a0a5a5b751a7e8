"""The head registry: every classifier that turns a video's cached ``(T, k)`` frame features into a label.

Each head *type* declares its settings here (one :class:`framecache.config.params.Field` each, so params validation,
defaults and README share one description); ``params.yaml`` then names configured entries
(``heads.lstm: {type: lstm, hidden: 64, ...}``). This module imports neither torch nor scikit-learn: params
validation calls :func:`head_types` and :func:`head_param_schema` at the start of every stage, and only
:func:`build_head` / :func:`load_head` pull in the implementation modules.

Types: ``pooled`` (frame pooling + logistic regression), ``svm`` (linear / RBF SVM on a pooled descriptor),
``rnn`` / ``lstm`` / ``gru`` (recurrent nets), ``attention`` (learned temporal attention pooling) and
``transformer`` (a small encoder with positional encodings).
"""

from __future__ import annotations

import difflib
import importlib
import pickle
import sys
from pathlib import Path
from typing import Any

from framecache.config.params import Field
from framecache.errors import FramecacheError
from framecache.fileio import atomic_path

POOLINGS = ("mean", "max", "min", "maxmin", "delta", "maxmin_delta")

_POOLING = {
    "pooling": Field(
        "str",
        "mean",
        "frame pooling: mean, max, min, maxmin (max ‖ min), delta (max ‖ min over t of x[t+d] − x[t], "
        "zeros when T = 1), maxmin_delta (maxmin ‖ delta)",
        choices=POOLINGS,
    ),
    "delta_step": Field("int", 1, "d of the delta pooling (capped at T − 1 for shorter videos)", min=1),
}

_SELECTION = {
    "val_fraction": Field(
        "float",
        0.2,
        "share of train held out (stratified) for selection/early stopping when no validation split is given",
        min=0.05,
        max=0.5,
    ),
    "class_weight": Field(
        "str", "none", "weight classes inversely to their train frequency", choices=("none", "balanced")
    ),
}

_C_GRID = Field(
    "list",
    [0.001, 0.01, 0.1, 1.0, 10.0],
    "inverse regularisation strengths tried; the one with the best validation accuracy (then log-loss) is kept",
    item=Field("float", min=0.0, min_exclusive=True),
    min_len=1,
)

_TORCH = {
    "hidden": Field("int", 64, "hidden size (model width)", min=1),
    "dropout": Field("float", 0.3, "dropout on the pooled representation (and between layers)", min=0.0, max=0.9),
    "input_dropout": Field("float", 0.3, "dropout on each input feature vector", min=0.0, max=0.9),
    "lr": Field("float", 0.003, "AdamW learning rate", min=0.0, min_exclusive=True),
    "weight_decay": Field("float", 0.01, "AdamW weight decay", min=0.0),
    "batch_size": Field("int", 32, "videos per optimisation step", min=1),
    "max_epochs": Field("int", 100, "upper bound on training epochs", min=1),
    "patience": Field(
        "int", 10, "stop after this many epochs without a lower validation loss; best weights are restored", min=1
    ),
    "max_len": Field(
        "int",
        None,
        "cap on time steps per video (longer ones are subsampled evenly and counted); null = no cap",
        nullable=True,
        min=1,
    ),
    **_SELECTION,
}

_RECURRENT = {
    **_TORCH,
    "layers": Field("int", 1, "stacked recurrent layers", min=1),
    "bidirectional": Field(
        "bool", True, "also read each video backwards (measured better at telling order on the demo)"
    ),
    "readout": Field(
        "str", "last", "video representation: last valid state, or mean over valid steps", choices=("last", "mean")
    ),
}

_SCHEMAS: dict[str, dict[str, Field]] = {
    "pooled": {
        **_POOLING,
        "C_grid": _C_GRID,
        "max_iter": Field("int", 1000, "logistic regression solver iterations", min=10),
        **_SELECTION,
    },
    "svm": {
        "kernel": Field("str", "linear", "SVM kernel", choices=("linear", "rbf")),
        **_POOLING,
        "C_grid": _C_GRID,
        "gamma_grid": Field(
            "list",
            [0.25, 1.0, 4.0],
            "RBF widths tried, as multiples of 1/k (k = descriptor length; descriptors are standardised); "
            "ignored by the linear kernel",
            item=Field("float", min=0.0, min_exclusive=True),
            min_len=1,
        ),
        "calibration_folds": Field(
            "int", 3, "cross-validation folds on train used to calibrate probabilities (Platt scaling)", min=2
        ),
        **_SELECTION,
    },
    "rnn": dict(_RECURRENT),
    "lstm": dict(_RECURRENT),
    "gru": dict(_RECURRENT),
    "attention": {
        **_TORCH,
        "attention_hidden": Field("int", 32, "width of the attention scoring network", min=1),
        "positional": Field(
            "bool", True, "add sinusoidal time encodings before scoring (false makes the head order-blind)"
        ),
    },
    "transformer": {
        **_TORCH,
        "layers": Field("int", 1, "encoder layers", min=1),
        "num_heads": Field("int", 4, "attention heads per layer (must divide hidden)", min=1),
        "feedforward": Field("int", 128, "width of each layer's feed-forward block", min=1),
        "readout": Field(
            "str",
            "mean",
            "video representation: mean over valid steps, or the last valid step",
            choices=("last", "mean"),
        ),
    },
}

# type -> "module:Class"; imported on first use so params validation stays cheap.
_IMPLEMENTATIONS = {
    "pooled": "framecache.heads.pooled:PooledHead",
    "svm": "framecache.heads.svm:SVMHead",
    "rnn": "framecache.heads.recurrent:RNNHead",
    "lstm": "framecache.heads.recurrent:LSTMHead",
    "gru": "framecache.heads.recurrent:GRUHead",
    "attention": "framecache.heads.attention:AttentionHead",
    "transformer": "framecache.heads.transformer:TransformerHead",
}

TEMPORAL_TYPES = ("rnn", "lstm", "gru", "attention", "transformer")
FORMAT = "framecache-head"
FORMAT_VERSION = 1


def head_types() -> list[str]:
    """Every registered head type, sorted."""
    return sorted(_SCHEMAS)


def _check_type(kind: Any) -> str:
    if kind not in _SCHEMAS:
        close = difflib.get_close_matches(str(kind), head_types(), n=1, cutoff=0.6)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise FramecacheError(f"unknown head type {kind!r}{hint}; valid types: {', '.join(head_types())}")
    return kind


def head_param_schema(kind: str) -> dict[str, Field]:
    """The settings a head type accepts (a fresh dict; ``type`` itself is not included)."""
    return dict(_SCHEMAS[_check_type(kind)])


def head_class(kind: str) -> type:
    """The estimator class implementing a head type."""
    module, _, name = _IMPLEMENTATIONS[_check_type(kind)].partition(":")
    return getattr(importlib.import_module(module), name)


def build_head(config: dict[str, Any], random_state: int, device: str = "cpu") -> Any:
    """An unfitted head from a validated ``heads.<name>`` entry (``{type: ..., settings...}``).

    Settings missing from ``config`` take the schema's defaults; unknown ones are an error, so a config that
    bypassed params validation still cannot silently drop a setting.
    """
    if not isinstance(config, dict) or "type" not in config:
        raise FramecacheError(f"a head configuration needs a 'type' key, got {config!r}")
    kind = _check_type(config["type"])
    from framecache.config.params import validate_mapping

    settings = validate_mapping(
        {k: v for k, v in config.items() if k != "type"}, head_param_schema(kind), f"heads.<{kind}>."
    )
    cls = head_class(kind)
    if kind in TEMPORAL_TYPES:
        settings["device"] = device
    return cls(**settings, random_state=random_state)


def save_head(head: Any, path: str | Path) -> None:
    """Pickle a fitted head atomically, tagged with the format and library versions it was written with."""
    import sklearn

    torch = sys.modules.get("torch")  # a pooled head never loads torch; do not load it just for its version
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "python": sys.version.split()[0],
        "sklearn": sklearn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "head": head,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_head(path: str | Path) -> Any:
    """Load a head written by :func:`save_head` (only open model files you trust: this unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise FramecacheError(f"model file {str(path)!r} not found: run the train stage first")
    with open(path, "rb") as fh:
        try:
            payload = pickle.load(fh)  # our own model files (see the docstring)
        except Exception as exc:
            raise FramecacheError(f"model file {str(path)!r} cannot be read ({exc}); re-run the train stage") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FramecacheError(f"{str(path)!r} is not a framecache model file; re-run the train stage")
    if payload.get("version") != FORMAT_VERSION:
        raise FramecacheError(
            f"model file {str(path)!r} has format version {payload.get('version')}, this code reads "
            f"{FORMAT_VERSION}; re-run the train stage"
        )
    return payload["head"]


def uses_torch(config: dict[str, Any]) -> bool:
    """Does the head configured as ``config`` (a ``heads.<name>`` entry) train with torch?"""
    return config.get("type") in TEMPORAL_TYPES


def is_order_blind(config: dict[str, Any]) -> bool:
    """Does the head configured as ``config`` ignore frame order (same prediction for any frame order)?"""
    kind = config.get("type")
    if kind in ("pooled", "svm"):
        return config.get("pooling", "mean") in ("mean", "max", "min", "maxmin")
    if kind == "attention":
        return config.get("positional", True) is False
    return False
