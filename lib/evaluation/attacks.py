"""Memoized evaluations of a trained model under attack (paper §3.3, Table 3):
clean accuracy, PGD accuracy and AutoAttack accuracy (percent) of a run on a
test set, each an :class:`Evaluation` that names only what changes its result,
memoized by the run, the attacked images' spec and those parameters
(:mod:`lib.evaluation.memo`). The measurements are :mod:`lib.evaluation.robustness`'s
(eval mode, float32, one seeded random start); the adversarial page
(:mod:`lib.sections.adversarial`) builds its evaluations from here."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from lib.attacks.autoattack import SQUARE_QUERIES, TORCHATTACKS_ITERATIONS
from lib.attacks.pgd import PGD_STARTS
from lib.evaluation.clean import clean_evaluation
from lib.evaluation.memo import memoized
from lib.evaluation.robustness import autoattack_on, pgd_accuracy
from lib.training.run_config import EvalDataSpec
from lib.validation import check_choice

# The memo names of attacks start with the page that first recorded them
# ("adversarial.pgd_accuracy"), so the memos written before this module stay valid.
MEMO_PREFIX = "adversarial"


def torchattacks_version() -> str:
    """The installed torchattacks' version (it enters AutoAttack's memo key)."""
    try:
        return metadata.version("torchattacks")
    except metadata.PackageNotFoundError:  # pragma: no cover - a requirement of the project
        return "absent"


@dataclass(frozen=True)
class Evaluation:
    """One memoized evaluation of a trained model (:func:`evaluate`):
    ``metric`` (percent) on the images ``data`` (shown as ``eval_set``) under
    ``attack`` ("clean", "pgd" or "autoattack") with ``params``, the (name, value) pairs that change the
    result — ε, step, steps, the random start's seed, PGD's start, AutoAttack's
    version, iterations and implementation — and nothing else (no settings'
    prose, no batch size). AutoAttack's ``iterations`` appear only when they
    differ from torchattacks' default, and PGD's ``start`` only when it is the
    official one, so the memo keys of the defaults stay those recorded before
    the parameters existed."""

    metric: str
    eval_set: str
    attack: str
    data: EvalDataSpec
    params: tuple = ()

    def __post_init__(self):
        check_choice("attack", self.attack, ("clean", "pgd", "autoattack"))

    @property
    def memo_name(self) -> str:
        """The memo's name for it (a clean accuracy is the shared clean evaluation)."""
        return ("clean_evaluation" if self.attack == "clean"
                else f"{MEMO_PREFIX}.{self.attack}_accuracy")

    def axes(self) -> dict:
        """The row's axis values: ε and the step count where the attack has them."""
        p = dict(self.params)
        return {axis: p[axis] for axis in ("eps", "steps") if axis in p}

    def measure(self, model, images, device) -> float:
        """Accuracy (percent) of ``model`` on ``images`` (the built ``data``)
        under the attack (a clean accuracy is :func:`evaluate`'s, shared)."""
        p = dict(self.params)
        if self.attack == "pgd":
            return 100 * pgd_accuracy(model, images, device, p["eps"], p["step_size"], p["steps"],
                                      p["seed"], random_start=p["random_start"],
                                      start=p.get("start", "paper"))
        return 100 * autoattack_on(model, images, p["eps"], p["seed"], p["version"],
                                   iterations=p.get("iterations", TORCHATTACKS_ITERATIONS),
                                   square_queries=p.get("square_queries", SQUARE_QUERIES))

    def entry(self, result: dict) -> dict:
        """A result row's entry for ``result`` (:func:`evaluate`'s)."""
        return dict(metric=self.metric, value=result["value"], unit="%", n=result["n"],
                    eval_set=self.eval_set, **self.axes())


def clean_accuracy_evaluation(metric: str, eval_set: str, data: EvalDataSpec) -> Evaluation:
    """Clean accuracy on ``data`` (the shared clean evaluation), as ``metric``
    shown as ``eval_set``."""
    return Evaluation(metric, eval_set, "clean", data)


def pgd_evaluation(metric: str, eval_set: str, data: EvalDataSpec, eps: float,
                   step_size: float, steps: int, seed: int, start: str = "paper") -> Evaluation:
    """PGD-``steps`` accuracy (step ``step_size`` in the ε-ball, random start from
    ``seed``) on ``data``, as ``metric`` shown as ``eval_set``. ``start``: where
    the ball is centred (:func:`lib.attacks.pgd_linf`); it enters the params
    (and the memo key) only when it is not the default ``"paper"``."""
    check_choice("start", start, PGD_STARTS)
    return Evaluation(metric, eval_set, "pgd", data, (
        ("eps", float(eps)), ("step_size", float(step_size)), ("steps", int(steps)),
        ("seed", int(seed)), ("random_start", True),
        *((("start", start),) if start != "paper" else ())))


def autoattack_evaluation(data: EvalDataSpec, eps: float, seed: int, version: str,
                          iterations: int = TORCHATTACKS_ITERATIONS,
                          square_queries: int = SQUARE_QUERIES) -> Evaluation:
    """AutoAttack accuracy (``version``: torchattacks' "standard", …) on
    ``data`` at ε, shown as eval set "autoattack"; ``iterations`` and
    ``square_queries`` enter the params only when they are not the defaults."""
    iterations_param = () if iterations == TORCHATTACKS_ITERATIONS else (
        ("iterations", int(iterations)),)
    queries = () if square_queries == SQUARE_QUERIES else (
        ("square_queries", int(square_queries)),)
    return Evaluation("autoattack_accuracy", "autoattack", "autoattack", data, (
        ("eps", float(eps)), ("seed", int(seed)), ("version", version),
        *iterations_param, *queries, ("implementation", f"torchattacks {torchattacks_version()}")))


def evaluate(evaluation: Evaluation, run, images, device, runs_dir=None) -> dict:
    """``evaluation`` of the trained ``run`` ({"value": percent, "n": images}),
    from the evaluation memo when present; ``images(spec)`` builds the data
    only when it must be computed. A clean accuracy is 100 − the clean test
    error of :func:`lib.evaluation.clean.clean_evaluation`, the one clean
    evaluation every section shares."""
    if evaluation.attack == "clean":
        clean = clean_evaluation(run, evaluation.data, device, runs_dir=runs_dir,
                                 load=lambda: images(evaluation.data))
        return {"value": 100.0 - clean["error"], "n": clean["n"]}

    def compute():
        data = images(evaluation.data)
        return {"value": evaluation.measure(run.model, data, device), "n": len(data)}

    return memoized(evaluation.memo_name, run, [evaluation.data], dict(evaluation.params),
                    compute, device=device, runs_dir=runs_dir)
