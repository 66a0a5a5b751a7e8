"""The backbone catalogue: every image model ``extract.backbone`` can name, and how each is fetched and built.

Where things live:

- ``names`` — what ``extract.backbone`` accepts: the aliases (:data:`~framecache.backbones.names.ALIASES`,
  one :class:`~framecache.backbones.names.BackboneSpec` record each: a new alias is added there),
  ``timm/<model>.<tag>`` and ``torchvision/<builder>[:<WEIGHTS>]``, checked at params load without torch;
- ``specs`` — a name's record (``get_spec``, ``k`` read from the model) and the preprocessing it expects;
- ``weights`` / ``fetch`` — the weights files, fetched into timm's/torchvision's caches on first use, and
  their checksums;
- ``build`` — a frozen, BatchNorm-folded network that turns frames into pooled features;
- ``catalog`` — the command that lists backbones and fetches their weights
  (``uv run python -m framecache.backbones.catalog``).

Stage 1's run over the videos (:mod:`framecache.features`) and predict use this package; this package knows
nothing about videos beyond a frame's geometry.
"""
