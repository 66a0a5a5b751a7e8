"""Training heads on a feature store: ``inputs`` (the videos per split, test sealed), ``protocol`` (fit on
train, select on val, score test once, over repeats), ``crossval`` (the same out of fold, by group, for
``train.evaluation: group_kfold``), ``results`` (what a run produced; metrics.json), ``outputs`` (the files
train@<head> writes), ``figures`` (its confusion matrix and training curve PNGs; the report may use them too)
and ``run`` (what the train stage calls).

The names below are the package's API, so callers need not know which module holds what.
"""

from framecache.training.inputs import SealedSplit, SplitData, split_data
from framecache.training.outputs import write_outputs
from framecache.training.protocol import full_proba, run_protocol, train_head
from framecache.training.results import RepeatResult, TrainingResult

__all__ = [
    "RepeatResult",
    "SealedSplit",
    "SplitData",
    "TrainingResult",
    "full_proba",
    "run_protocol",
    "split_data",
    "train_head",
    "write_outputs",
]
