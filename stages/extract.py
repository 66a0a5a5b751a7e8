"""DVC entry point of stage 1 (extract): the manifest's videos → the backbone's HDF5 feature store.

    python -m stages.extract --params params.yaml --manifest data/prepared/manifest.csv \\
        --classes data/prepared/classes.txt --out data/features/efficientnet_lite0.h5 \\
        --failures data/features/failures.csv --metrics data/features/metrics.json

Paths come from dvc.yaml (built from ``paths.*`` in params.yaml); settings from the ``extract`` section.
The work is done by :func:`framecache.features.launch.run_extract_command`.

Many GPUs or nodes: start the same command with ``torchrun`` (``torchrun --nproc-per-node 4 -m stages.extract
...``); every rank extracts its share and rank 0 writes the store. With ``extract.processes`` > 1 and no
torchrun around it (a DVC run), the stage re-runs itself under ``torchrun --standalone``.
"""

from __future__ import annotations

import os
import sys

# Before torch loads OpenMP: its threads must sleep, not spin, while they wait. The decoding workers share
# the cores with them, and on a 2-core machine spinning threads made the model 5-10x slower (BENCHMARKS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Sequence
from pathlib import Path

from framecache.cli import parser, run
from framecache.config.during import params_unchanged
from framecache.config.loading import repository_root
from framecache.config.params import load_params
from framecache.features.distributed import launched_by_torchrun
from framecache.features.launch import ExtractPaths, run_extract_command
from framecache.workspace import refuse_copy_without_lock


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True, help="prepared manifest.csv")
    p.add_argument("--classes", required=True, help="prepared classes.txt")
    p.add_argument("--out", required=True, help="feature store to write (HDF5)")
    p.add_argument("--failures", required=True, help="CSV of videos that could not be decoded")
    p.add_argument("--metrics", required=True, help="metrics JSON for dvc metrics")
    args = p.parse_args(argv)
    # in a `dvc exp run --queue` copy without dvc.lock every video would be extracted again: stop at once
    refuse_copy_without_lock(repository_root(Path(args.params)), "extract")
    paths = ExtractPaths(*(Path(a) for a in (args.manifest, args.classes, args.out, args.failures, args.metrics)))
    # under torchrun the process that launched the job (DVC's) checks; its ranks need not
    with params_unchanged(args.params, "extract", enabled=not launched_by_torchrun()):
        params = load_params(args.params)
        return run_extract_command(
            params.extract, paths, module="stages.extract", argv=sys.argv[1:] if argv is None else argv
        )


if __name__ == "__main__":
    run(main)
