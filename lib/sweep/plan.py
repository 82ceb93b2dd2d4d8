"""The sweep's plan (issue 16, item 1): every section's runs at a preset
(:meth:`lib.sections.base.Section.planned`), deduplicated by run key, parents
before children, in *waves*: wave 0 trains from scratch, wave ``n`` fine-tunes
from wave ``n - 1``. A section with deferred runs (Forward/GLC stage 2,
:class:`~lib.sections.base.DeferredRun`, whose config needs its trained
stage 1) gets one *resolve* step in the wave after its last run: it runs the
section on the cache, which trains the stage-2 runs (and fills the evaluation
memo).

Cost: images per run (training-set size after its transforms × epochs, × the
attack's forward-backward passes for adversarial training) over a recorded
throughput (:mod:`lib.sweep.throughput`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from lib.data import dataset_info
from lib.data.class_exclusion import NUM_IMAGENET_CLASSES, resolve_exclusion
from lib.imbalance import power_law_class_sizes
from lib.presets import PRESETS, Preset
from lib.sections import get_section, section_names
from lib.sections.base import DeferredRun
from lib.training.run_config import RunConfig
from lib.validation import check_choice

# Training-split sizes of the datasets read from the data root (their files are
# not needed to plan); generated datasets are sized from their options.
TRAIN_SPLIT_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "fashion_mnist": 60_000,
                     "imagenet32": 1_281_167, "imagenet64": 1_281_167,
                     "tiny_imagenet": 100_000}


@dataclass(frozen=True)
class PlannedRun:
    """One run of the sweep: its config, the sections that need it and its wave."""

    key: str
    config: RunConfig
    sections: tuple
    wave: int

    @property
    def parent(self) -> str | None:
        return None if self.config.init is None else self.config.init.key()

    @property
    def label(self) -> str:
        return self.config.label or self.key


@dataclass(frozen=True)
class ResolveStep:
    """A section's deferred runs, trained by running the section once all its
    other runs (``parents``, run keys) are in the cache."""

    section: str
    deferred: tuple  # DeferredRun labels
    parents: tuple
    wave: int
    estimate_like: tuple = field(default=(), repr=False)  # configs that cost like the stage 2s

    @property
    def key(self) -> str:
        return f"resolve-{self.section}"

    @property
    def label(self) -> str:
        return f"{self.section}: {len(self.deferred)} deferred run(s)"


@dataclass(frozen=True)
class Plan:
    preset: Preset
    runs: tuple  # PlannedRun, parents first
    resolves: tuple  # ResolveStep

    def waves(self) -> list[list]:
        """Runs and resolve steps grouped by wave, in order."""
        out = defaultdict(list)
        for item in (*self.runs, *self.resolves):
            out[item.wave].append(item)
        return [out[w] for w in sorted(out)]

    def section_runs(self, section: str) -> list[PlannedRun]:
        return [r for r in self.runs if section in r.sections]


def _depth(config: RunConfig) -> int:
    return 0 if config.init is None else 1 + _depth(config.init)


def build_plan(preset: str | Preset, sections=None) -> Plan:
    """The plan of ``sections`` (default: all, in the book's order) at ``preset``."""
    if isinstance(preset, str):
        check_choice("preset", preset, PRESETS)
        preset = PRESETS[preset]
    names = list(sections or section_names())
    for name in names:
        check_choice("section", name, section_names())
    configs: dict[str, RunConfig] = {}
    needed_by: dict[str, list[str]] = defaultdict(list)
    deferred: dict[str, list[DeferredRun]] = defaultdict(list)
    for name in names:
        for entry in get_section(name).planned(preset):
            if isinstance(entry, DeferredRun):
                deferred[name].append(entry)
                continue
            key = entry.key()
            configs.setdefault(key, entry)
            if name not in needed_by[key]:
                needed_by[key].append(name)
    runs = tuple(PlannedRun(k, c, tuple(needed_by[k]), _depth(c)) for k, c in configs.items())
    runs = tuple(sorted(runs, key=lambda r: r.wave))  # stable: the sections' order in a wave
    waves = {r.key: r.wave for r in runs}
    resolves = []
    for name, entries in deferred.items():
        parents = tuple(r.key for r in runs if name in r.sections)
        resolves.append(ResolveStep(name, tuple(e.label for e in entries), parents,
                                    1 + max(waves[p] for p in parents),
                                    tuple(e.parents[-1] for e in entries)))
    return Plan(preset, runs, tuple(resolves))


# -- cost -----------------------------------------------------------------------------------

def training_images(config: RunConfig) -> int:
    """Images in one epoch of ``config``: the training split (or its subset),
    less the hold-out, after size-changing transforms (imbalance, oversampling)."""
    spec = config.data
    options = spec.dataset.kwargs()
    name = spec.dataset.name
    classes = dataset_info(name).num_classes
    if name == "fractal":
        classes = int(options.get("num_classes", classes))
        total = classes * int(options.get("per_class", 100))
    elif name in TRAIN_SPLIT_SIZES:
        total = TRAIN_SPLIT_SIZES[name]
        if options.get("exclude") is not None:
            kept = NUM_IMAGENET_CLASSES - len(resolve_exclusion(options["exclude"]))
            total, classes = total * kept // NUM_IMAGENET_CLASSES, kept
    else:
        raise ValueError(f"training_images: no training-split size for dataset {name!r}; "
                         f"known: {sorted([*TRAIN_SPLIT_SIZES, 'fractal'])}")
    n = min(total, spec.size) if spec.size is not None else total
    n = n - round(n * spec.holdout_fraction)
    largest = n // classes
    for transform, params in spec.transforms:
        params = dict(params)
        if transform == "power_law_imbalance":
            sizes = power_law_class_sizes(classes, params["gamma"], params["largest"],
                                          params["smallest"])
            n, largest = sum(sizes), max(sizes)
        elif transform in ("oversample", "smote"):
            n = classes * largest
        elif transform == "corrupt_labels" and params.get("part", "all") != "all":
            trusted = round(params.get("trusted_fraction", 0.0) * n)  # lib.noise.trusted_split
            n = trusted if params["part"] == "trusted" else n - trusted
    return int(n)


def passes_per_image(config: RunConfig) -> int:
    """Forward-backward passes per training image: 1, or 1 + the PGD steps of
    adversarial training."""
    if config.objective == "adversarial":
        return 1 + int(dict(config.objective_params).get("steps", 0))
    return 1


def image_size(config: RunConfig) -> int:
    options = config.data.dataset.kwargs()
    return int(options.get("size") or dataset_info(config.data.dataset.name).image_size)


def workload(config: RunConfig) -> tuple:
    """What a throughput entry is measured for: (architecture, channels, image size)."""
    return (config.architecture, config.in_channels, image_size(config))


def run_images(config: RunConfig) -> int:
    """Training images over all epochs (each counted once per forward-backward pass)."""
    return training_images(config) * config.recipe.epochs * passes_per_image(config)


def _cost_rows(configs, tables) -> dict:
    out = {"epochs": sum(c.recipe.epochs for c in configs),
           "images": sum(run_images(c) for c in configs)}
    for table in tables:
        seconds = 0.0
        for c in configs:
            ips = table.images_per_s(workload(c), c.recipe.batch_size)
            if ips is None:
                seconds = None
                break
            seconds += run_images(c) / ips
        out[f"{table.device} hours"] = None if seconds is None else seconds / 3600
    return out


def summary(plan: Plan, tables) -> list[dict]:
    """One row per section (every run it needs, shared ones included, and its
    deferred runs, each costed like its stage 1), then the total of the
    deduplicated sweep."""
    rows = []
    for name in section_names():
        runs = [r.config for r in plan.section_runs(name)]
        resolve = next((s for s in plan.resolves if s.section == name), None)
        later = list(resolve.estimate_like) if resolve else []
        if runs or later:
            rows.append({"section": name, "runs": len(runs), "deferred": len(later),
                         **_cost_rows(runs + later, tables)})
    later = [c for s in plan.resolves for c in s.estimate_like]
    rows.append({"section": "total (each run once)", "runs": len(plan.runs),
                 "deferred": len(later), **_cost_rows([r.config for r in plan.runs] + later,
                                                      tables)})
    return rows


def format_summary(plan: Plan, tables) -> str:
    """:func:`summary` as a Markdown table, with the throughput sources below."""
    rows = summary(plan, tables)
    hours = [f"{t.device} hours" for t in tables]
    head = ["section", "runs", "deferred", "epochs", "images", *hours]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def cell(value):
        if value is None:
            return "not measured"
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return f"{value:,}"

    for row in rows:
        lines.append("| " + " | ".join([row["section"]] + [cell(row[h]) for h in head[1:]])
                     + " |")
    lines += ["", f"Preset {plan.preset.name}: {len(plan.runs)} distinct runs in "
              f"{len(plan.waves())} waves; deferred runs (Forward/GLC stage 2) are costed "
              "like their stage 1. Images count each forward-backward pass (adversarial "
              "training: 1 + PGD steps)."]
    for t in tables:
        lines.append(f"{t.device} hours: {t.hardware}, from "
                     f"benchmarks/results/sweep_throughput_{t.device}.json")
    if not tables:
        lines.append("No throughput recorded: run benchmarks/sweep_throughput.py.")
    return "\n".join(lines)
