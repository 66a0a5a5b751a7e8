"""DVC stage ``train@<head>``: train one configured head on the feature store and write its outputs.

    python -m stages.train --params params.yaml --head lstm --store data/features/efficientnet_lite0.h5 \\
        --out data/models/lstm

The head's settings are ``heads.<head>`` in params.yaml; ``train.repeats``, ``train.device``,
``train.cpu_threads`` and ``seed`` apply to every head. The protocol is in :mod:`framecache.training`.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence

from framecache import cli
from framecache.config.params import load_params
from framecache.errors import FramecacheError

log = logging.getLogger("framecache.train")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--head", required=True, help="name of an entry under `heads` in params.yaml")
    parser.add_argument("--store", required=True, help="feature store written by the extract stage (.h5)")
    parser.add_argument("--out", required=True, help="output folder for this head")
    args = parser.parse_args(argv)
    params = load_params(args.params)

    defined = list(params["heads"])
    if args.head not in defined:
        close = difflib.get_close_matches(args.head, defined, n=1, cutoff=0.6)
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise FramecacheError(f"--head {args.head!r} is not defined under heads{hint}; defined: {', '.join(defined)}")

    from framecache.features.store import FeatureStore, configured_provenance
    from framecache.training import train_head, write_outputs

    # the params-only check: loading the backbone to hash its weights would cost more than most heads' fits
    with FeatureStore.open(args.store, expect=configured_provenance(params["extract"])) as store:
        classes = list(store.classes)
        seqs = store.load()

    train = params["train"]
    result = train_head(
        args.head,
        params["heads"][args.head].to_dict(),
        seqs.ids,
        seqs.X,
        seqs.y,
        seqs.split,
        classes,
        repeats=train["repeats"],
        seed=params["seed"],
        device=train["device"],
        threads=train["cpu_threads"],
    )
    write_outputs(result, args.out)
    summary = result.summary()
    log.info(
        "%s: test top-1 %.3f ± %.3f over %d repeat(s), fit %.1f s; written to %s",
        args.head, summary["test_top1"], summary["test_top1_std"], summary["repeats"], summary["fit_seconds"],
        args.out,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    cli.run(main)
