"""Reading videos with PyAV: ``container`` (opening, demuxing), ``probe`` (what a file holds), ``sampling``
(which frames; no PyAV), ``frames`` (a decoded frame to an upright, resized, cropped RGB array) and ``decode``
(a video's sampled frames, memory-bounded); on the GPU with NVDEC: ``nvdec``; the choice between the two
decoders: ``decoders``."""
