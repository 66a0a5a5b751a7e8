"""The HDF5 feature store: one file per backbone holding every video's (T_i, k) feature sequence, written
once by the extract stage and read by training, report and predict.

Layout (``SCHEMA_VERSION`` 1)::

    /features      (ΣT, k) float16|float32, chunked ``(chunk_rows, k)``, compressed per params
    /offsets       (N+1,) int64    video i owns rows offsets[i]:offsets[i+1]
    /frame_index   (ΣT,) int64     decode-order index of each stored frame in its video
    /timestamp     (ΣT,) float64   presentation time (s from the video's first frame); NaN if unknown
    /video_id /path /split /group /sha256 /policy /note /compute   (N,) utf-8 strings
    /label /frames /frames_usable                          (N,) int64

``policy`` is the sampling outcome per video (``full``, ``keep``, ``repeat``, ``capped``); ``frames`` the
demuxed frame count and ``frames_usable`` the frames sampling could draw from (fewer when the stream ends
early, explained in ``note``); ``compute`` the device type and autocast dtype that computed the video's features
(``cpu/fp32``, ``cuda/bfloat16``): a store may mix them when a run reuses videos computed elsewhere, and predict
compares them with how it computes new videos (:func:`framecache.features.embed.features_for_videos`).

Root attributes: ``format``, ``schema_version``, ``extractor_version``, ``backbone``, ``weights_sha256``, ``k``,
``dtype`` and JSON ``preprocessing``, ``sampling`` — together the *provenance*
(:mod:`framecache.features.provenance`), which decides whether a store is stale — plus JSON ``classes``,
``libraries`` (versions), ``compute`` (device, precision, batch size of the run that wrote the file) and
``created``, which are recorded but do not make a store stale; and ``data_sha256``, the checksum of the data as
written (:meth:`FeatureStore.verify`).

Modules: ``schema`` (names in the file, the per-video record), ``reader`` (:class:`FeatureStore`), ``writer``
(:class:`StoreWriter`). The store needs h5py and :class:`~framecache.video.sampling.Sampling` only: never torch or
the decoder. Use it as::

    from framecache.features.store import FeatureStore, configured_provenance
    with FeatureStore.open(path, expect=configured_provenance(params["extract"])) as store:
        seqs = store.load()  # .ids, .X list of (T_i, k) float32, .y, .split, .group
"""

from framecache.features.provenance import EXTRACTOR_VERSION, SCHEMA_VERSION, configured_provenance
from framecache.features.store.reader import FeatureStore, StaleStoreError
from framecache.features.store.schema import FORMAT, Sequences, VideoFeatures
from framecache.features.store.writer import DEFAULT_CHUNK_ROWS, StoreWriter

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EXTRACTOR_VERSION",
    "FORMAT",
    "SCHEMA_VERSION",
    "FeatureStore",
    "Sequences",
    "StaleStoreError",
    "StoreWriter",
    "VideoFeatures",
    "configured_provenance",
]
