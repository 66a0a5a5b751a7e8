"""Stage 1's library: per-frame CNN features of every video, in one HDF5 store per backbone.

Where things live:

- ``names`` — what ``extract.backbone`` accepts (aliases, ``timm/<model>.<tag>``,
  ``torchvision/<builder>[:<WEIGHTS>]``), checked at params load; ``backbones`` — the records (``get_spec``)
  and each one's preprocessing; ``weights`` / ``fetch`` — the weights files, fetched into timm's/torchvision's
  caches on first use, and their checksums; ``catalog`` — the listing/fetch command; ``build`` — building a
  frozen, BatchNorm-folded network.
- ``provenance`` — what a store was built with and when it is stale; ``store/`` — the HDF5 store: its
  layout (``schema``), ``reader`` and ``writer``.
- The extract stage as steps: ``inputs`` (manifest, classes, expected provenance) → ``plan`` (reuse and
  sharding) → ``runner`` (this rank's share; ``embed`` decodes and embeds videos, ``batching`` the DataLoader
  and fixed-shape batches, ``journal`` the resume checkpoints) → ``assemble`` (the store, failures CSV);
  ``extraction`` runs them in order; ``launch`` is what the command calls (torchrun re-launch included);
  ``distributed`` the torchrun ranks and sharding.
"""
