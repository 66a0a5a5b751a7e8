"""Batches are padded only after a full batch ran (so that every pass has one shape and features never depend
on batch company), never past what the data needs: a batch size of 512 for 8 frames runs one batch of 8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache.backbones.build import build_backbone
from framecache.features.batching import BatchRunner, batched_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("efficientnet_lite0", image_size=32)


def videos(counts, seed=0):
    rng = np.random.default_rng(seed)
    return [(i, torch.from_numpy(rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8))) for i, n in enumerate(counts)]


def run(backbone, counts, batch_size, monkeypatch):
    shapes = []
    real = BatchRunner.launch

    def launch(self, rows, shape):
        shapes.append(shape)
        return real(self, rows, shape)

    monkeypatch.setattr(BatchRunner, "launch", launch)
    runner = BatchRunner(backbone, batch_size, None)
    out = dict(batched_features(videos(counts), runner))
    monkeypatch.undo()
    return shapes, out


def test_a_batch_larger_than_the_data_is_not_padded(backbone, monkeypatch):
    shapes, out = run(backbone, [4, 4], 512, monkeypatch)
    assert shapes == [8]  # not 512 frames of zeros
    assert [f.shape for f in out.values()] == [(4, backbone.k)] * 2


def test_after_a_full_batch_the_last_is_padded_to_the_same_shape(backbone, monkeypatch):
    shapes, out = run(backbone, [4, 3], 3, monkeypatch)
    assert shapes == [3, 3, 3]
    # same frames, other company (alone, and after other videos): bitwise the same features
    _, alone = run(backbone, [4], 3, monkeypatch)
    assert np.array_equal(out[0], alone[0])
    unpadded_shapes, unpadded = run(backbone, [4, 3], 512, monkeypatch)
    assert unpadded_shapes == [7]
    np.testing.assert_allclose(unpadded[0], out[0], rtol=2e-3, atol=2e-4)  # another batch shape: same up to rounding


def test_frames_are_copied_on_arrival_so_their_memory_can_be_reused_at_once(backbone, monkeypatch):
    """The decode workers' slots are handed back as soon as a video is added: overwriting its frames after
    that must not change its features."""
    given = videos([5, 2, 6])
    expected = dict(batched_features([(k, f.clone()) for k, f in given], BatchRunner(backbone, 4, None)))

    def reused():
        for key, frames in given:
            yield key, frames
            frames.fill_(0)  # the slot is reused by the next video

    got = dict(batched_features(reused(), BatchRunner(backbone, 4, None)))
    for key in expected:
        assert np.array_equal(got[key], expected[key])
