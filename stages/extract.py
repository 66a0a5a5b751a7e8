"""DVC entry point of stage 1 (extract): the manifest's videos → the backbone's HDF5 feature store.

    python -m stages.extract --params params.yaml --manifest data/prepared/manifest.csv \\
        --classes data/prepared/classes.txt --out data/features/efficientnet_lite0.h5 \\
        --failures data/features/failures.csv --metrics data/features/metrics.json

Paths come from dvc.yaml (built from ``paths.*`` in params.yaml); settings from the ``extract`` section.
The work is done by :func:`framecache.features.extraction.run_extract`.

Many GPUs or nodes: start the same command with ``torchrun`` (``torchrun --nproc-per-node 4 -m stages.extract
...``); every rank extracts its share and rank 0 writes the store (:mod:`framecache.features.distributed`). With
``extract.processes`` > 1 and no torchrun around it (a DVC run), the stage re-runs itself under
``torchrun --standalone --nproc-per-node <processes>``.
"""

from __future__ import annotations

import os
import sys

# Before torch loads OpenMP: its threads must sleep, not spin, while they wait. The decoding workers share
# the cores with them, and on a 2-core machine spinning threads made the model 5-10x slower (BENCHMARKS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Sequence

from framecache.cli import parser, run
from framecache.config.params import load_params
from framecache.features import distributed


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True, help="prepared manifest.csv")
    p.add_argument("--classes", required=True, help="prepared classes.txt")
    p.add_argument("--out", required=True, help="feature store to write (HDF5)")
    p.add_argument("--failures", required=True, help="CSV of videos that could not be decoded")
    p.add_argument("--metrics", required=True, help="metrics JSON for dvc metrics")
    args = p.parse_args(argv)
    params = load_params(args.params)
    extract = params.extract
    if distributed.should_relaunch(extract["processes"]):
        return distributed.relaunch("stages.extract", sys.argv[1:] if argv is None else argv, extract["processes"])
    from framecache.features.extraction import run_extract  # loads torch: not needed by a process that only relaunches

    with distributed.process_group(extract["sync_timeout_minutes"]) as ctx:
        run_extract(extract, args.manifest, args.classes, args.out, args.failures, args.metrics, dist=ctx)
        # every rank stays until rank 0 has written the store: the job ends when the store is there, and
        # torchrun on the other nodes does not give up waiting for rank 0's node in the meantime (if rank 0
        # fails instead, torchrun stops the job)
        ctx.barrier()
    return 0


if __name__ == "__main__":
    run(main)
