"""DVC stage `validate`: check params.yaml before any other stage runs; every other stage depends on its output.

    python -m stages.validate --params params.yaml --out data/params.validated   # paths.validated

DVC deletes a stage's outputs before it runs the stage's command, so a bad value under, say, ``heads.lstm``
would cost train@lstm's outputs even though the command then refuses it. This stage depends on the whole
params file and runs first: a bad file stops ``dvc repro`` here, before any other stage (or its outputs) is
touched. Its output is always the same bytes, so re-validating never makes another stage re-run. The work is
:func:`framecache.config.loading.write_validated`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from framecache import cli
from framecache.config.during import params_unchanged
from framecache.config.loading import load_params, repository_root, write_validated
from framecache.workspace import refuse_dataset_missing_in_copy


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the file every other stage depends on")
    args = parser.parse_args(argv)
    with params_unchanged(args.params, "validate"):
        # in a `dvc exp run --queue` copy of the repository, a dataset it lacks is named before prepare fails
        refuse_dataset_missing_in_copy(load_params(args.params), repository_root(Path(args.params)))
        write_validated(args.params, args.out)
    return 0


if __name__ == "__main__":
    cli.run(main)
