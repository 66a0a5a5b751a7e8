"""comparison.md: the report's digest in Markdown (headline, comparison table, within-pair accuracy, method
notes, warnings), for reading in a terminal, a pull request or ``dvc`` output without opening the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


def _cell(x: Any) -> str:
    # a second line (interval, p-value, counts) joins the first: "[...]" as is, anything else in brackets
    first, _, rest = str(x).replace("|", "\\|").partition("\n")
    rest = rest.replace("\n", " ")
    return first if not rest else f"{first} {rest}" if rest.startswith("[") else f"{first} ({rest})"


def markdown_table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def bullet_list(items: Iterable[str]) -> str:
    return "\n".join(f"- {x}" for x in items)


def document(blocks: Iterable[str]) -> str:
    """Blocks separated by one blank line, the file ending in one newline."""
    return "\n\n".join(b.strip("\n") for b in blocks) + "\n"
