"""The features' code version is derived from the code that defines them: changing what that code does makes
stores stale; comments, docstrings and formatting do not; and the list of modules hashed covers every project
module that code imports."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from framecache.features import codeversion
from framecache.features.provenance import EXTRACTOR_VERSION, configured_provenance
from framecache.features.store import FeatureStore, StaleStoreError
from tests.builders import default_params, store_provenance, write_store
from tests.imports import direct_imports, module_file, module_name

PACKAGE = codeversion.PACKAGE


@pytest.fixture
def package_copy(tmp_path):
    """The feature code copied to a temporary package folder, to be edited."""
    for rel in codeversion.FEATURE_CODE:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE / rel, tmp_path / rel)
    return tmp_path


def test_the_recorded_version_is_the_code_version():
    assert EXTRACTOR_VERSION == codeversion.code_version() == int(codeversion.source_digest()[:12], 16)
    assert configured_provenance(default_params()["extract"])["extractor_version"] == EXTRACTOR_VERSION


@pytest.mark.parametrize("rel", ["video/decode.py", "video/sampling.py", "video/frames.py", "backbones/build.py"])
def test_a_change_to_what_the_code_does_changes_the_version(package_copy, rel):
    before = codeversion.source_digest(package=package_copy)
    assert before == codeversion.source_digest()
    path = package_copy / rel
    path.write_text(path.read_text(encoding="utf-8") + "\nEXTRA_BEHAVIOUR = 1\n", encoding="utf-8")
    assert codeversion.source_digest(package=package_copy) != before


def test_comments_docstrings_and_layout_do_not_count(package_copy):
    before = codeversion.source_digest(package=package_copy)
    path = package_copy / "video/sampling.py"
    text = path.read_text(encoding="utf-8")
    edited = '"""A new module docstring."""\n# a new comment\n' + text.split('"""', 2)[2].replace("\n\n\n", "\n\n\n\n")
    path.write_text(edited, encoding="utf-8")
    assert codeversion.source_digest(package=package_copy) == before


def test_every_module_the_feature_code_imports_is_classified():
    """A module imported by the feature code must be hashed or be declared as not deciding features."""
    listed = {module_name(PACKAGE / rel) for rel in (*codeversion.FEATURE_CODE, *codeversion.NOT_FEATURE_CODE)}
    todo = [module_name(PACKAGE / rel) for rel in codeversion.FEATURE_CODE]
    seen = set(todo)
    while todo:
        for imported in direct_imports(todo.pop()):
            if imported not in seen and module_file(imported).name != "__init__.py":
                seen.add(imported)
                if imported in {module_name(PACKAGE / rel) for rel in codeversion.FEATURE_CODE}:
                    todo.append(imported)
    unclassified = sorted(m for m in seen if m.startswith("framecache.") and m not in listed)
    assert not unclassified, f"add to codeversion.FEATURE_CODE or NOT_FEATURE_CODE: {unclassified}"
    for rel in (*codeversion.FEATURE_CODE, *codeversion.NOT_FEATURE_CODE):
        assert (PACKAGE / rel).is_file(), rel


def test_a_store_from_other_code_is_stale(tmp_path):
    extract = default_params()["extract"]
    older = store_provenance(extract, k=4, extractor_version=EXTRACTOR_VERSION ^ 1)
    path = write_store(tmp_path / "s.h5", older, ["a"], [("v", np.zeros((2, 4), np.float32), 0, "train")])
    with pytest.raises(StaleStoreError, match="extractor_version"):
        FeatureStore.open(path, expect=configured_provenance(extract))
