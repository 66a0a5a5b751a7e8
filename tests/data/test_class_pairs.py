"""A dataset's own order-only pairs (class_pairs.csv): read from the dataset folder or beside its CSV manifest,
filtered to the classes prepare indexed, and a clear error naming the file when it is malformed."""

from __future__ import annotations

import pytest

from framecache.data.candidates import DatasetError
from framecache.data.class_pairs import dataset_pairs_file, prepared_pairs, read_class_pairs, write_class_pairs
from framecache.layout import CLASS_PAIRS


def test_pairs_sit_in_the_folder_or_beside_the_manifest(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label\n")
    assert dataset_pairs_file(tmp_path) == tmp_path / CLASS_PAIRS
    assert dataset_pairs_file(tmp_path / "manifest.csv") == tmp_path / CLASS_PAIRS


def test_no_file_is_no_pairs_and_pairs_of_absent_classes_are_left_out(tmp_path, caplog):
    assert prepared_pairs(tmp_path, ["open", "close"]) == []
    write_class_pairs(tmp_path / CLASS_PAIRS, [["open", "close"], ["push", "pull"]])
    assert prepared_pairs(tmp_path, ["open", "close", "push"]) == [["open", "close"]]
    assert "push / pull" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\nopen,close\n", "lacks column"),
        ("class_a,class_b\nopen,open\n", "line 2: 'open', 'open' is not a pair"),
        ("class_a,class_b\nopen,\n", "line 2"),
    ],
)
def test_a_malformed_file_is_an_error_naming_it(tmp_path, text, message):
    (tmp_path / CLASS_PAIRS).write_text(text)
    with pytest.raises(DatasetError, match=message) as err:
        read_class_pairs(tmp_path / CLASS_PAIRS)
    assert CLASS_PAIRS in str(err.value)
