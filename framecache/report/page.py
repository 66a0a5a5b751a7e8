"""The HTML page: Jinja2 templates (``templates/``) with autoescaping, fed with plain data built here.

Nothing in the report assembles HTML in Python strings: a section hands its template data (tables as rows of
:class:`Cell`, facts, images) and the template writes the markup. The only trusted HTML is what a template
rendered (wrapped in :class:`markupsafe.Markup` so the page does not escape it twice) and the base64 image
data, which is marked safe explicitly. Images are embedded, so the page is one self-contained file.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from framecache.report.formatting import DASH, is_missing

TEMPLATES = Path(__file__).parent / "templates"

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is text unless it is Markup
    undefined=StrictUndefined,  # a misspelt variable is an error, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Cell:
    """A table cell: its first line, further lines shown smaller beneath, and an optional heat shade."""

    lines: tuple[str, ...]
    lightness: str | None = None  # HSL lightness (percent) of a heat-map cell


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    cls: str = ""


@dataclass(frozen=True)
class Image:
    alt: str
    src: Markup
    width: int
    caption: str


@dataclass(frozen=True)
class Fragment:
    """One section's rendered HTML, placed on the page under its heading (none for the boxes at the top)."""

    id: str
    title: str | None
    html: Markup


def _cell(value: Any, heat: bool) -> Cell:
    if heat and isinstance(value, float | int) and not is_missing(value):
        # white (0) to green (1): the per-class accuracies read as a heat map
        return Cell((f"{100 * float(value):.0f}%",), f"{97 - 42 * float(value):.0f}")
    text = DASH if is_missing(value) else str(value)
    return Cell(tuple(text.split("\n")))


# a zero-width space after each underscore lets a long head name (pool_maxmin_delta) wrap in a narrow header
BREAK_AFTER_UNDERSCORE = "_\u200b"


def table(df: pd.DataFrame, heat: Sequence[str] = (), cls: str = "", breakable: bool = False) -> Table:
    """A data frame as template data; columns named in ``heat`` (values in [0, 1]) are shaded white→green;
    ``breakable`` headers may wrap after an underscore."""
    rows = [[_cell(v, c in heat) for c, v in zip(df.columns, row, strict=True)] for row in df.itertuples(index=False)]
    columns = [str(c).replace("_", BREAK_AFTER_UNDERSCORE) if breakable else str(c) for c in df.columns]
    return Table(columns, rows, cls)


def image(path: Path, alt: str, width: int, caption: str) -> Image:
    """A PNG embedded as a data URI (base64 needs no escaping: marked safe on purpose)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Image(alt, Markup("data:image/png;base64,") + Markup(data), width, caption)


def emphasis(text: str) -> list[tuple[str, bool]]:
    """Markdown ``**bold**`` spans as (text, bold) pieces, for a template to mark up."""
    return [(part, i % 2 == 1) for i, part in enumerate(text.split("**"))]


def render_fragment(template: str, **data: Any) -> Markup:
    """A section's HTML from ``templates/sections/<template>`` (autoescaped, hence safe to embed)."""
    return Markup(_ENV.get_template(f"sections/{template}").render(**data))


def render_page(fragments: Sequence[Fragment]) -> str:
    """The whole self-contained page: the sections in order, under the report's title and CSS."""
    return _ENV.get_template("report.html.j2").render(fragments=fragments)
