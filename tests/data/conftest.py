"""Fixtures of the data tests: the repository's params, as prepare loads them."""

from __future__ import annotations

import pytest


@pytest.fixture
def params(repo_params):
    return repo_params
