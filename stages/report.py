"""Report stage: compare every trained head and write tables, plots and one self-contained HTML page.

Reads the prepared dataset (``--prepared``), the extraction metrics and feature store (``--features``,
``--store``) and each head of ``train.heads`` under ``--models``; writes into ``--out``: ``report.html``,
``comparison.csv|md``, ``pairs.csv``, ``per_class.csv``, ``confusion/<head>.csv|png``, ``curves/<head>.png``
and ``summary.json`` (for ``dvc metrics``). Statistics settings come from the ``report`` params section.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from framecache import cli, layout
from framecache.config.during import params_unchanged
from framecache.config.params import load_params

log = logging.getLogger("framecache.report")


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--prepared", required=True, help="prepare's output folder (params: paths.prepared)")
    parser.add_argument("--features", required=True, help="extract's output folder (params: paths.features)")
    parser.add_argument("--store", required=True, help="the feature store file (<features>/<backbone>.h5)")
    parser.add_argument("--models", required=True, help="train's output folder, one subfolder per head")
    parser.add_argument("--out", required=True, help="where to write the report (params: paths.report)")
    args = parser.parse_args(argv)
    # Imported after argument parsing: matplotlib and scikit-learn make --help slow otherwise.
    from framecache.report.build import build_report

    with params_unchanged(args.params, "report"):
        summary = build_report(
            load_params(args.params), Path(args.prepared), Path(args.features), Path(args.store), Path(args.models),
            Path(args.out),
        )  # fmt: skip
    log.info(
        "report: %s heads compared on %d test videos (%d groups); chosen on %s: %s, test top-1 %.3f; written to %s",
        len(summary["heads"]), summary["test_videos"], summary["test_groups"], summary["best_head_chosen_on"],
        summary["best_head"], summary["best_test_top1"], Path(args.out) / layout.REPORT_HTML,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    cli.run(main)
