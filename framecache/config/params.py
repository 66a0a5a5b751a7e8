"""The typed, validated view of ``params.yaml`` that every stage reads at its start: the one import for it.

:func:`load_params` reads a file, validates it against the pydantic models of
:mod:`framecache.config.sections` (head settings: :mod:`framecache.heads.specs`) and returns plain nested data
with every default filled in. An unknown key (with the nearest known one suggested), a wrong type, an
out-of-range number or an unknown choice stops the stage with a :class:`ParamsError` naming the key, the value
and what is allowed, so a typo fails at once instead of being silently ignored.

Run ``python -m framecache.config.params [params.yaml]`` to check a file without running anything, or
``python -m framecache.config.params --markdown`` to print README.md's parameter reference.
"""

from __future__ import annotations

from framecache.config.loading import Params, load_params, read_yaml, validate
from framecache.config.messages import ParamsError
from framecache.config.reference import main, markdown_reference

__all__ = ["Params", "ParamsError", "load_params", "main", "markdown_reference", "read_yaml", "validate"]

if __name__ == "__main__":
    from framecache.cli import run

    run(lambda argv: main(list(argv) if argv else None))
