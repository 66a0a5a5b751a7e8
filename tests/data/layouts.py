"""Builders for the dataset layouts as they are distributed (UCF101 and HMDB51 archives, Kinetics CSVs), in tiny
form: each video is a real few-frame clip, or (``fake=True``) a few bytes for tests that never open a file."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_video

UCF_CLASSES = ("ApplyLipstick", "HandStandPushups", "Typing")  # the archive's folder is HandStandPushups,
UCF_LIST_NAMES = {"HandStandPushups": "HandstandPushups"}  # its lists and classInd spell it HandstandPushups


def _video(path: Path, fake: bool, seed: int) -> None:
    if fake:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"video {seed}".encode())
    else:
        write_video(path, frames=3, size=16, seed=seed)


def ucf101(root: Path, groups: int = 4, fake: bool = False) -> dict[int, set[str]]:
    """``root/UCF-101/<class>/v_<class>_gNN_c01.avi`` beside ``root/ucfTrainTestlist/``, with 3 official-style
    splits: split N tests groups N (and N+3, ...). Returns the test videos (list entries) of each split."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    names = [UCF_LIST_NAMES.get(c, c) for c in UCF_CLASSES]
    (lists / "classInd.txt").write_text("".join(f"{i} {n}\r\n" for i, n in enumerate(names, start=1)))
    tests: dict[int, set[str]] = {1: set(), 2: set(), 3: set()}
    for n in (1, 2, 3):
        train_lines, test_lines = [], []
        for ci, (cls, name) in enumerate(zip(UCF_CLASSES, names, strict=True)):
            for g in range(1, groups + 1):
                entry = f"{name}/v_{name}_g{g:02d}_c01.avi"
                if n == 1:
                    _video(root / "UCF-101" / cls / f"v_{name}_g{g:02d}_c01.avi", fake, 100 * ci + g)
                if (g - n) % 3 == 0:
                    test_lines.append(entry)
                    tests[n].add(entry)
                else:
                    train_lines.append(f"{entry} {ci + 1}")
        (lists / f"trainlist0{n}.txt").write_text("\r\n".join(train_lines) + "\r\n")
        (lists / f"testlist0{n}.txt").write_text("\r\n".join(test_lines) + "\r\n")
    return tests


HMDB_CLASSES = ("brush_hair", "pour")


def hmdb51(root: Path, videos: int = 6, fake: bool = False) -> None:
    """``root/hmdb51_org/<class>/<video>.avi`` beside ``root/testTrainMulti_7030_splits/<class>_test_splitN.txt``:
    in split N, video i is test when i % 3 == N - 1, unused (0) when i == 5, else train."""
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for ci, cls in enumerate(HMDB_CLASSES):
        for n in (1, 2, 3):
            lines = []
            for i in range(videos):
                code = 0 if i == 5 else 2 if i % 3 == n - 1 else 1
                lines.append(f"{cls}_clip{i}_f_cm_np1_ri_med_{i}.avi {code} ")
            (splits / f"{cls}_test_split{n}.txt").write_text("\n".join(lines) + "\n")
        for i in range(videos):
            _video(root / "hmdb51_org" / cls / f"{cls}_clip{i}_f_cm_np1_ri_med_{i}.avi", fake, 50 * ci + i)


KINETICS_LABELS = ("abseiling", "air drumming")


def kinetics(root: Path, per_label: int = 6, fake: bool = False, missing: int = 1) -> list[str]:
    """``root/train.csv`` and ``root/validate.csv`` (Kinetics columns) and the clips a downloader writes
    (``<split>/<label>/<id>_<start:06d>_<end:06d>.mp4``); the last ``missing`` rows have no file. Returns the
    file names of the missing rows."""
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    rows = {"train": [], "validate": []}
    absent = []
    for li, label in enumerate(KINETICS_LABELS):
        for i in range(per_label):
            split = "validate" if i % 3 == 2 else "train"
            yid = f"yt{li}{i}-_x{i:04d}"[:11]
            start = 10 * i
            rows[split].append(f'"{label}",{yid},{start},{start + 10},{"val" if split == "validate" else split},0\n')
            stem = f"{yid}_{start:06d}_{start + 10:06d}"
            if li == len(KINETICS_LABELS) - 1 and i >= per_label - missing:
                absent.append(stem)
                continue
            _video(root / split / label / f"{stem}.mp4", fake, 40 * li + i)
    root.mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        (root / f"{split}.csv").write_text(header + "".join(lines))
    return absent
