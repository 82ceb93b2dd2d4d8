"""Training: recipes run by one engine, behind a content-addressed run cache."""

from lib.training.engine import error_and_nll, predict_logits
from lib.training.run_cache import TrainedRun, default_runs_dir, train_or_load
from lib.training.run_config import (
                                     EvalDataSpec,
                                     RunConfig,
                                     TrainingDataSpec,
                                     register_transform,
)

__all__ = ["EvalDataSpec", "RunConfig", "TrainedRun", "TrainingDataSpec", "default_runs_dir",
           "error_and_nll", "predict_logits", "register_transform", "train_or_load"]
