"""DVC stage `prepare`: index the dataset (labels, groups, leak-free splits, probe + content hash per video).

    python -m stages.prepare --params params.yaml --dataset data/demo --out data/prepared

Writes ``manifest.csv`` (one row per usable video), ``classes.txt``, ``failures.csv`` (every file left out,
with the reason) and ``summary.json`` (counts per class and split) into ``--out``. The work is
:func:`framecache.data.prepare.prepare_dataset`; :mod:`framecache.data.discovery` lists the layouts understood
and :mod:`framecache.data.splits` how splits are made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from framecache import cli
from framecache.config.during import params_unchanged
from framecache.config.params import load_params
from framecache.data.prepare import prepare_dataset
from framecache.layout import FAILURES

log = logging.getLogger("framecache.prepare")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="dataset folder or CSV manifest (params: paths.dataset)")
    parser.add_argument("--out", required=True, help="output folder (params: paths.prepared)")
    args = parser.parse_args(argv)
    with params_unchanged(args.params, "prepare"):
        summary = prepare_dataset(Path(args.dataset), Path(args.out), load_params(args.params))
    log.info(
        "%d videos in %d classes (%s), splits %s (%s); %d failure(s) listed in %s",
        summary["videos"],
        summary["classes"],
        summary["source"],
        summary["per_split"],
        summary["split_source"],
        summary["failures"],
        Path(args.out) / FAILURES,
    )
    return 0


if __name__ == "__main__":
    cli.run(main)
