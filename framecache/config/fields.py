"""The building blocks of every params model: the base class and the value types with the project's rules.

Every section of ``params.yaml`` and every head type's settings is a :class:`Settings` model built from the
types below. They are strict where YAML invites a silent mistake and lenient where the intent is clear:

- :data:`Int` refuses ``true`` (a bool is an int in Python, but ``true`` for a count is a typo) and fractions,
  and accepts ``4.0`` as 4;
- :data:`Float` accepts integers and quoted numbers (``"1e-3"``: PyYAML's YAML 1.1 reads an unquoted ``1e-3``
  as a string, and a user who quotes a number still means a number), and refuses ``true`` and NaN;
- :data:`Str`, :data:`Bool` and :func:`strict_list` take only what they name (no ``"yes"`` for true, no
  string for a list).

Constraints (``ge``, ``gt``, ``le``, ``min_length``) go on the field; :mod:`framecache.config.messages` reads
them back to say what is allowed, in errors and in the README reference alike.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict


class Settings(BaseModel):
    """A params mapping: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _whole_number(value: Any) -> Any:
    # 4.0 is clearly the count 4; 4.5 is not a count, and strict int validation rejects it (and bools)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a bool is not a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("not a number") from None
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("NaN is not a usable setting")
    return value


Int = Annotated[int, Strict(), BeforeValidator(_whole_number)]
Float = Annotated[float, Strict(), BeforeValidator(_number)]
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


def strict_list(item: Any) -> Any:
    """A list (not a string or a mapping) whose items are validated as ``item``."""
    return Annotated[list[item], Strict()]
