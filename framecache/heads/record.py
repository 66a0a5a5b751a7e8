"""What one head type declares, once: the record the registry in :mod:`framecache.heads` is made of.

Everything else — params validation, the README reference, the train stage's torch set-up, the report's
"order-blind" flag and the contract tests — reads these records, so a new head type is one implementation
module, one settings model and one :class:`HeadType` added to the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framecache.config.fields import Settings


@dataclass(frozen=True)
class HeadType:
    """One head type: its name in params.yaml and everything the rest of the code needs to know about it."""

    name: str
    # the type's settings (``type`` itself excluded); its defaults are the documented ones
    settings: type[Settings]
    # "module:Class", imported on first use so params validation never loads torch or scikit-learn
    implementation: str
    # trains with torch: gets the train stage's device and runs under torch's thread limit
    uses_torch: bool
    # does a head with these settings ignore frame order (same prediction for any frame order)?
    order_blind: Callable[[Any], bool]
    # small settings that make a fit take well under a second: the contract tests use them
    tiny: Mapping[str, Any] = field(default_factory=dict)
