"""DVC stage ``train@<head>``: train one configured head on the feature store and write its outputs.

    python -m stages.train --params params.yaml --head lstm --store data/features/efficientnet_lite0.h5 \\
        --out data/models/lstm

The head's settings are ``heads.<head>`` in params.yaml; ``train.repeats``, ``train.evaluation`` (holdout or
group_kfold), ``train.folds``, ``train.device``, ``train.cpu_threads`` and ``seed`` apply to every head. The
protocol is in :mod:`framecache.training`; this command calls :func:`framecache.training.run.train_from_store`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from framecache import cli
from framecache.config.during import params_unchanged
from framecache.config.params import load_params
from framecache.training.run import train_from_store

log = logging.getLogger("framecache.train")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--head", required=True, help="name of an entry under `heads` in params.yaml")
    parser.add_argument("--store", required=True, help="feature store written by the extract stage (.h5)")
    parser.add_argument("--out", required=True, help="output folder for this head")
    args = parser.parse_args(argv)
    with params_unchanged(args.params, "train", head=args.head):
        summary = train_from_store(load_params(args.params), args.head, args.store, args.out)
    log.info(
        "%s: test top-1 %.3f ± %.3f over %d repeat(s), fit %.1f s; written to %s",
        args.head, summary["test_top1"], summary["test_top1_std"], summary["repeats"], summary["fit_seconds"],
        args.out,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    cli.run(main)
