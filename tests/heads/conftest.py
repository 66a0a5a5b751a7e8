"""Fixtures of the head tests."""

from __future__ import annotations

import pytest

from framecache.compute import cpu_threads


@pytest.fixture(autouse=True)
def one_thread():
    # as the train stage does: tiny models on a shared 2-core machine run fastest single-threaded
    with cpu_threads(1):
        yield
