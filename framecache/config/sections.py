"""The sections of ``params.yaml`` as pydantic models: every key with its type, default, range and meaning.

The field descriptions are the README's "meaning" column (:mod:`framecache.config.reference` generates it), so
a key is documented where it is declared. ``heads`` entries are the head registry's models, one per type,
told apart by ``type`` (see :func:`framecache.heads.entry_models`).
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from framecache import heads
from framecache.backbones import names as backbone_names
from framecache.compute import DEVICES
from framecache.config.fields import Float, Int, Settings, Str, strict_list
from framecache.config.messages import ParamsError
from framecache.errors import FramecacheError

Device = Literal[DEVICES]
Positive = Annotated[Float, Field(gt=0)]
StrList = strict_list(Str)
EXTENSIONS = [".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"]
HEADS = [
    "pool_mean",
    "pool_max",
    "pool_min",
    "pool_maxmin",
    "pool_delta",
    "pool_maxmin_delta",
    "svm_linear",
    "svm_rbf",
    "rnn",
    "lstm",
    "gru",
    "attention",
    "transformer",
]
CLASS_PAIRS = [["zoom_in", "zoom_out"], ["rotate_cw", "rotate_ccw"], ["fade_in", "fade_out"]]


class Paths(Settings):
    validated: Str = Field(
        "data/params.validated",
        description="the validate stage's stamp that params.yaml passed; every other stage depends on it",
    )
    demo: Str = Field("data/demo", description="where the demo stage writes its videos/ and manifest.csv")
    dataset: Str = Field(
        "data/demo",
        description="what prepare indexes: a folder holding a manifest.csv (path,label[,split][,group]), or "
        "UCF101-style split lists, or laid out root/<class>/<video>; or a CSV manifest file itself",
    )
    prepared: Str = Field("data/prepared", description="prepare's outputs: manifest.csv, classes.txt, failures.csv")
    features: Str = Field("data/features", description="extract's outputs: <backbone>.h5 feature store and metrics")
    models: Str = Field("data/models", description="train's outputs: one folder per head")
    report: Str = Field("data/report", description="report's outputs: report.html and tables")


class Demo(Settings):
    clips_per_class: Int = Field(24, ge=4, description="clips generated per class")
    size: Int = Field(128, ge=32, le=1024, description="frame width and height in pixels")
    fps: Int = Field(25, ge=1, le=120, description="frame rate of the demo videos")
    min_frames: Int = Field(24, ge=2, description="shortest clip, in frames")
    max_frames: Int = Field(48, ge=2, description="longest clip, in frames")


class Prepare(Settings):
    val_fraction: Float = Field(0.2, gt=0, le=0.9, description="share of videos (whole groups) held out for validation")
    test_fraction: Float = Field(
        0.25, gt=0, le=0.9, description="share of videos (whole groups) held out for the final test"
    )
    group_regex: Str = Field(
        r"_g(\d+)_",
        description="regex on the file name whose first capture group is the video's group when the manifest "
        "gives none (UCF101: _g08_); videos without a match are their own group",
    )
    group_scope: Literal["class", "dataset"] = Field(
        "class",
        description="what a group_regex capture names: class, a group within the video's class (UCF101: g08 of "
        "ApplyEyeMakeup and g08 of YoYo are different people, groups ApplyEyeMakeup/08 and YoYo/08); dataset, one "
        "group across classes (a person filmed in every action). A manifest's group column is taken as written",
    )
    split_list: Int = Field(
        1,
        ge=1,
        description="which official split to use when split files exist: UCF101's trainlist0N/testlist0N or "
        "HMDB51's <class>_test_splitN (both ship splits 1, 2 and 3)",
    )
    extensions: StrList = Field(
        EXTENSIONS, min_length=1, description="file endings indexed when scanning a folder (case-insensitive)"
    )


class Extract(Settings):
    backbone: Str = Field(
        "efficientnet_lite0",
        description="image model: an alias (efficientnet_lite0, resnet18, ...), a timm model timm/<model>.<tag> "
        "or a torchvision model torchvision/<builder>[:<WEIGHTS>]; `python -m framecache.backbones.catalog` lists "
        "them. Weights are fetched into timm's/torchvision's caches on first use",
    )
    image_size: Int | None = Field(None, ge=32, le=1024, description="input resolution; null uses the backbone's own")
    sampling: Literal["uniform", "fps", "all"] = Field("uniform", description="frame sampling policy")
    num_frames: Int = Field(16, ge=1, description="T for uniform sampling: evenly spaced segment centres")
    fps: Positive = Field(2.0, description="frames per second kept by fps sampling")
    max_frames: Int = Field(64, ge=1, description="cap on frames kept per video by fps and all sampling")
    short_videos: Literal["keep", "repeat"] = Field(
        "keep",
        description="videos with fewer frames than uniform sampling asks for: keep the frames there are, or "
        "repeat frames up to num_frames (recorded per video either way)",
    )
    device: Device = Field("auto", description="where the CNN runs")
    batch_size: Int | None = Field(
        None, ge=1, description="frames per forward pass; null uses the measured default for the device"
    )
    num_workers: Literal["auto"] | Annotated[Int, Field(ge=0)] = Field(
        "auto",
        description="decoding worker processes per extraction process (0 decodes between forward passes, in the "
        "process itself); `auto`: on CPU 0 beside single-thread models that fill the cores (as `processes: auto` "
        "runs them), 1 beside a multi-threaded model, one per core the model leaves (at most 8); on CUDA one per "
        "core but one (the process feeding the GPU keeps that one): a GPU outruns the decoders, so every core "
        "decoding counts",
    )
    decoder: Literal["auto", "cpu", "nvdec"] = Field(
        "auto",
        description="which decoder decodes the videos: `cpu` (FFmpeg, in the decode workers); `nvdec` (the GPU's "
        "video decoder through PyNvVideoCodec, the optional extra `nvdec`; a video it cannot decode is decoded on "
        "the CPU, with the reason in the store's per-video note); `auto`: NVDEC beside the CPU workers, both "
        "decoding at once, on a CUDA host where PyNvVideoCodec is installed, else the CPU. NVDEC's frames differ "
        "from the CPU's by a few levels, so a store extracted by another decoder counts as stale",
    )
    amp: Literal["auto", "off", "fp16", "bf16"] = Field(
        "auto", description="mixed precision on CUDA (CPU always runs fp32)"
    )
    dtype: Literal["float16", "float32"] = Field("float16", description="storage type of the features")
    compression: Literal["none", "lzf", "gzip"] = Field("lzf", description="HDF5 compression of the feature dataset")
    max_failure_rate: Float = Field(
        0.1, ge=0, le=1, description="fail the stage when more than this share of videos cannot be decoded"
    )
    checkpoint_seconds: Float = Field(
        60.0,
        ge=0,
        description="save computed features to the resume journal at least this often (a killed run loses at "
        "most this much work); 0 saves after every batch",
    )
    cpu_threads: Int | None = Field(
        None,
        ge=1,
        description="torch threads of each extraction process on CPU; null: torch's default for one process, the "
        "cores split between the processes under torchrun. CPU features differ in their last bits with this "
        "number: set it to get bit-identical stores from any number of processes",
    )
    processes: Literal["auto"] | Annotated[Int, Field(ge=1)] = Field(
        "auto",
        description="extraction processes on this machine: above 1 the stage runs itself under `torchrun "
        "--standalone`; `auto`: one per GPU, or on CPU one single-thread process per core (two single-thread "
        "copies of the model outrun one two-thread copy) when the manifest lists enough frames to repay their "
        "start-up; a job already started by torchrun ignores it",
    )
    sync_timeout_minutes: Positive = Field(
        60.0, description="under torchrun: how long ranks that finished wait for the slowest one before the job fails"
    )

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        # an alias costs nothing; a timm or torchvision id is looked up in that library's registry
        try:
            return backbone_names.check_name(value)
        except FramecacheError as exc:
            raise ParamsError(f"params: extract.{exc}") from None


class Train(Settings):
    heads: StrList = Field(
        HEADS, min_length=1, description="names of entries in `heads` to train, one DVC stage train@<name> each"
    )
    repeats: Int = Field(1, ge=1, description="seeds per head; metrics are reported as mean ± std")
    evaluation: Literal["auto", "holdout", "group_kfold"] = Field(
        "auto",
        description="holdout: fit on train, select on val, score the test split once; group_kfold: for small "
        "datasets, every video is predicted once by a model fitted on the other folds (whole groups; validation "
        "carved out of them by group), and model.pkl is refitted on all videos; auto: group_kfold when the median "
        "class has fewer than 10 test or 5 validation videos in the prepared splits (with at most one fold per "
        "group), else holdout; the report says which ran and why",
    )
    folds: Int = Field(5, ge=2, description="folds of group_kfold (at most the number of groups)")
    device: Device = Field("auto", description="where torch heads train")
    cpu_threads: Int | None = Field(
        1,
        ge=1,
        description="CPU threads a head may use (the heads' matrices are small: on a busy machine more threads "
        "mostly wait for each other); null leaves the libraries' defaults",
    )
    jobs: Literal["auto"] | Annotated[Int, Field(ge=1)] = Field(
        "auto",
        description="processes fitting a head's group_kfold folds (and its refit) at once; auto: one per core. The "
        "heads are the same whatever it is; only the time changes. Only with cpu_threads 1 (other thread counts, "
        "and torch heads on a GPU, fit one at a time)",
    )


class Report(Settings):
    bootstrap: Int = Field(
        2000,
        ge=100,
        description="cluster-bootstrap resamples of the test set's groups (seeded by seed): intervals of differences, "
        "mean class accuracy and macro-F1, and the group-aware widening of exact intervals",
    )
    confidence: Float = Field(
        0.95,
        ge=0.5,
        le=0.999,
        description="confidence level of the intervals; the significance tests use level 1 − confidence",
    )
    class_pairs: strict_list(Annotated[StrList, Field(min_length=2, max_length=2)]) = Field(
        [],
        description="order-only class pairs (classes that differ only in frame order, such as the demo's "
        "zoom_in/zoom_out), scored by within-pair accuracy (argmax of p(a) vs p(b)); none by default; a class "
        "may be in one pair only; pairs naming classes this dataset lacks are left out with one note",
    )


HeadEntry = Annotated[typing.Union[heads.entry_models()], Field(discriminator="type")]  # noqa: UP007 - built at runtime
SECTIONS = ("paths", "demo", "prepare", "extract", "train", "heads", "report")


class ParamsFile(Settings):
    """The whole of params.yaml."""

    seed: Int = Field(0, ge=0, description="master random seed: splits, demo clips, head initialisation")
    paths: Paths = Paths()
    demo: Demo = Demo()
    prepare: Prepare = Prepare()
    extract: Extract = Extract()
    train: Train = Train()
    heads: dict[Str, HeadEntry] = Field({}, description="named head configurations: type plus that type's settings")
    report: Report = Report()

    @field_validator(*SECTIONS, mode="before")
    @classmethod
    def _empty_section(cls, value: Any, info: ValidationInfo) -> Any:
        # `demo:` with nothing under it is YAML's null: the section's defaults, as for a missing section
        if info.field_name == "heads":
            # a head named 1 is the head "1"; an empty `heads:` is an error (a mapping of names is expected)
            return {str(name): entry for name, entry in value.items()} if isinstance(value, dict) else value
        return {} if value is None else value
