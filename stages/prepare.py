"""DVC stage `prepare`: index the dataset (labels, groups, leak-free splits, probe + content hash per video).

    python -m stages.prepare --params params.yaml --dataset data/demo --out data/prepared

Writes ``manifest.csv`` (one row per usable video), ``classes.txt``, ``failures.csv`` (every file left out,
with the reason) and ``summary.json`` (counts per class and split) into ``--out``. See stages/dataset.py
for the layouts understood and how splits are made.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from framecache import cli
from framecache.config.params import load_params
from framecache.data import dataset
from framecache.fileio import write_csv, write_json, write_text

log = logging.getLogger("framecache.prepare")


def prepare(dataset_path: Path, out: Path, *, params) -> dict:
    """Index ``dataset_path`` into ``out``; returns the summary."""
    prep = params.prepare
    found = dataset.discover(dataset_path, prep.extensions, prep.split_list)
    if not found.candidates and not found.failures:
        raise dataset.DatasetError(
            f"no videos found in {dataset_path} (looked for {', '.join(prep.extensions)} under root/<class>/, "
            "a manifest.csv, or split lists)"
        )
    indexed, probe_failures = dataset.probe_candidates(
        found.candidates,
        progress=lambda it: tqdm(it, total=len(found.candidates), desc="probing videos", unit="video", leave=False),
    )
    failures = found.failures + probe_failures
    if not indexed:
        _write_failures(out, failures)
        raise dataset.DatasetError(
            f"none of the {len(found.candidates)} files in {dataset_path} is a decodable video; reasons are in "
            f"{out / 'failures.csv'}"
        )
    labels = [i.candidate.label for i in indexed]
    groups = dataset.assign_groups(indexed, prep.group_regex)
    splits, split_source = dataset.resolve_splits(
        labels,
        groups,
        [i.candidate.split for i in indexed],
        val_fraction=prep.val_fraction,
        test_fraction=prep.test_fraction,
        seed=params.seed,
    )
    dataset.check_no_straddle(groups, splits)
    dataset.check_split_coverage(labels, groups, splits)

    present = set(labels)
    order = [c for c in (found.classes or []) if c in present]
    classes = order + sorted(present - set(order))
    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for item, group, split in zip(indexed, groups, splits, strict=True):
        info = item.info
        rows.append(
            {
                "video_id": item.candidate.video_id,
                "path": dataset.repo_path(item.candidate.file),
                "label": item.candidate.label,
                "label_index": index[item.candidate.label],
                "split": split,
                "group": group,
                "frames": info.frames,
                "fps": round(info.fps, 6),
                "duration": round(info.duration, 6),
                "width": info.width,
                "height": info.height,
                "codec": info.codec,
                "sha256": item.sha256,
            }
        )
    rows.sort(key=lambda r: r["video_id"])

    per_class = {c: {s: 0 for s in dataset.SPLITS} for c in classes}
    for r in rows:
        per_class[r["label"]][r["split"]] += 1
    lost_classes = sorted({c.label for c in found.candidates} - present)
    summary = {
        "source": found.source,
        "split_source": split_source,
        "videos": len(rows),
        "classes": len(classes),
        "groups": len(set(groups)),
        "failures": len(failures),
        "ignored_files": found.ignored_files,
        "per_split": dict(Counter(r["split"] for r in rows)),
        "per_class": per_class,
        "classes_without_usable_videos": lost_classes,
        "duplicate_content_videos": len(rows) - len({r["sha256"] for r in rows}),
    }
    write_csv(out / "manifest.csv", rows, dataset.MANIFEST_COLUMNS)
    write_text(out / "classes.txt", "".join(f"{c}\n" for c in classes))
    _write_failures(out, failures)
    write_json(out / "summary.json", summary)
    return summary


def _write_failures(out: Path, failures: list[dataset.Failure]) -> None:
    write_csv(out / "failures.csv", ({"path": f.path, "reason": f.reason} for f in failures), ["path", "reason"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="dataset folder or CSV manifest (params: paths.dataset)")
    parser.add_argument("--out", required=True, help="output folder (params: paths.prepared)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    summary = prepare(Path(args.dataset), Path(args.out), params=params)
    log.info(
        "%d videos in %d classes (%s), splits %s (%s); %d failure(s) listed in %s",
        summary["videos"],
        summary["classes"],
        summary["source"],
        summary["per_split"],
        summary["split_source"],
        summary["failures"],
        Path(args.out) / "failures.csv",
    )
    return 0


if __name__ == "__main__":
    cli.run(main)
