"""Clean test error and NLL of a trained run (paper §3, §4: "test error"),
memoized on disk (:mod:`lib.evaluation.memo`): one evaluation shared by
every section that reports a clean error, so a run is evaluated once."""

from __future__ import annotations

from lib.evaluation.memo import memoized
from lib.metrics import negative_log_likelihood, top1_error
from lib.training.engine import predict_logits


def clean_evaluation(run, spec, device, root=None, runs_dir=None, load=None) -> dict:
    """``{"error": top-1 error (%), "nll": mean NLL (nats), "n": images}`` of
    ``run`` on the test set ``spec`` (an :class:`EvalDataSpec`). The images
    are built only on a memo miss, by ``load()`` when given (a caller's
    cache of built sets), else from ``spec``."""
    def compute() -> dict:
        test = load() if load is not None else spec.build(root)
        logits = predict_logits(run.model, test, device)
        labels = test.labels.numpy()
        return {"error": 100.0 * top1_error(logits, labels),
                "nll": negative_log_likelihood(logits, labels), "n": len(test)}

    return memoized("clean_evaluation", run, [spec], {}, compute, device=device,
                    runs_dir=runs_dir)
