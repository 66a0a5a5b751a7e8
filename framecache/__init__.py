"""framecache: the library behind the DVC pipeline's commands in ``stages/``.

A pretrained image model runs once over the sampled frames of every video (``video``, ``features``); the
per-video feature sequences are cached in one HDF5 store; cheap heads (``heads``) are trained on that cache
(``training``) and compared honestly (``evaluation``, ``report``). See docs/ARCHITECTURE.md.
"""
