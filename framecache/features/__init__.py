"""Stage 1's library: per-frame CNN features of every video, in one HDF5 store per backbone. The backbones
themselves (names, records, weights, build) are :mod:`framecache.backbones`.

Where things live:

- ``provenance`` — what a store was built with and when it is stale; ``store/`` — the HDF5 store: its
  layout (``schema``), ``reader`` and ``writer``.
- The extract stage as steps: ``inputs`` (manifest, classes, expected provenance) → ``plan`` (reuse and
  sharding) → ``runner`` (this rank's share; ``embed`` decodes and embeds videos, ``pool`` and ``workers`` the
  decode workers and NVDEC threads, ``batching`` the fixed-shape batches, ``journal`` the resume checkpoints)
  → ``assemble`` (the store, failures CSV);
  ``extraction`` runs them in order; ``launch`` is what the command calls (torchrun re-launch included);
  ``distributed`` the torchrun ranks and sharding.
"""
