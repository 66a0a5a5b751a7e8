"""The head registry: every classifier that turns a video's cached ``(T, k)`` frame features into a label.

A head *type* is declared once, as a :class:`~framecache.heads.record.HeadType` in :mod:`framecache.heads.specs`
(its settings model, implementation, whether it trains with torch, when it is order-blind, tiny test settings)
and listed in :data:`REGISTRY` below. ``params.yaml`` then names configured entries
(``heads.lstm: {type: lstm, hidden: 64, ...}``). This module imports neither torch nor scikit-learn: params
validation reads the records at the start of every stage, and only :func:`build_head` / :func:`head_class`
import an implementation module.

Types: ``pooled`` (frame pooling + logistic regression), ``svm`` (linear / RBF SVM on a pooled descriptor),
``rnn`` / ``lstm`` / ``gru`` (recurrent nets), ``attention`` (learned temporal attention pooling) and
``transformer`` (a small encoder with positional encodings).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import create_model

from framecache.config.fields import Settings
from framecache.config.messages import validate_model
from framecache.errors import FramecacheError, did_you_mean
from framecache.heads.persistence import load_head, load_model, save_head
from framecache.heads.record import HeadType
from framecache.heads.specs.attention import ATTENTION
from framecache.heads.specs.pooled import POOLED, SVM
from framecache.heads.specs.recurrent import GRU, LSTM, RNN
from framecache.heads.specs.transformer import TRANSFORMER

__all__ = [
    "REGISTRY",
    "HeadType",
    "build_head",
    "entry_models",
    "head_class",
    "head_record",
    "head_types",
    "is_order_blind",
    "load_head",
    "load_model",
    "save_head",
    "settings_of",
    "uses_torch",
]

# Every head type, in the order the README documents them. Adding a type: its spec module, then one line here.
REGISTRY: Mapping[str, HeadType] = {t.name: t for t in (POOLED, SVM, RNN, LSTM, GRU, ATTENTION, TRANSFORMER)}


def head_types() -> list[str]:
    """Every registered head type, sorted."""
    return sorted(REGISTRY)


def head_record(kind: Any) -> HeadType:
    """The record of a head type; an unknown one is an error listing the valid types."""
    if kind not in REGISTRY:
        raise FramecacheError(
            f"unknown head type {kind!r}{did_you_mean(kind, REGISTRY)}; valid types: {', '.join(head_types())}"
        )
    return REGISTRY[kind]


@functools.cache
def entry_models() -> tuple[type[Settings], ...]:
    """One model per type for a ``heads.<name>`` entry: the type's settings plus ``type: <its name>``.

    params.yaml's ``heads`` mapping is the discriminated union of these on ``type``.
    """
    return tuple(
        create_model(f"{t.name.title()}Entry", __base__=t.settings, type=(Literal[t.name], ...))
        for t in REGISTRY.values()
    )


def settings_of(config: Mapping[str, Any], where: str | None = None) -> Settings:
    """The validated, default-filled settings of a ``heads.<name>`` entry (``{type: ..., settings...}``).

    Unknown settings are an error (:class:`~framecache.config.messages.ParamsError`), so a configuration that
    bypassed params validation still cannot silently drop one.
    """
    if not isinstance(config, Mapping) or "type" not in config:
        raise FramecacheError(f"a head configuration needs a 'type' key, got {config!r}")
    record = head_record(config["type"])
    rest = {k: v for k, v in config.items() if k != "type"}
    return validate_model(record.settings, rest, ("heads", where or f"<{record.name}>"))


def head_class(kind: str) -> type:
    """The estimator class implementing a head type."""
    module, _, name = head_record(kind).implementation.partition(":")
    return getattr(importlib.import_module(module), name)


def build_head(config: Mapping[str, Any], random_state: int, device: str = "cpu") -> Any:
    """An unfitted head from a ``heads.<name>`` entry; settings it leaves out take their defaults."""
    settings = settings_of(config).model_dump()
    record = head_record(config["type"])
    if record.uses_torch:
        settings["device"] = device
    return head_class(record.name)(**settings, random_state=random_state)


def uses_torch(config: Mapping[str, Any]) -> bool:
    """Does the head configured as ``config`` (a ``heads.<name>`` entry) train with torch?"""
    return head_record(config.get("type")).uses_torch


def is_order_blind(config: Mapping[str, Any]) -> bool:
    """Does the head configured as ``config`` ignore frame order (same prediction for any frame order)?"""
    return head_record(config.get("type")).order_blind(settings_of(config))
