"""The three scales of every experiment: ``smoke``, ``quick`` and ``paper``
(design.md §4).

A preset fixes the target data, the pre-training source, the architecture and
the recipes shared by every section. ``paper`` carries the paper's own
settings (§3, §4: WRN-40-2, SGD with Nesterov momentum, cosine schedule; from
scratch 100 epochs at lr 0.1 with dropout 0.3; fine-tuning 10 epochs at lr
0.001 without dropout). This module imports only the standard library, so the
Makefile can validate ``PRESET``, ``DEVICE`` and ``DATA_ROOT`` before anything
is installed::

    python3 -m lib.presets check quick --device auto --data-root ~/data [--dry-run 1] [--source trained]
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace

from lib.validation import check_choice


@dataclass(frozen=True)
class Recipe:
    """An SGD training recipe (paper §3.2, §4): Nesterov momentum 0.9, weight
    decay 5e-4, cosine learning rate stepped per batch, batch size 128.

    ``tune`` is ``"all"`` (whole network) or ``"last_layer"`` (only the new
    classifier); ``augment`` turns on random crop (zero padding 4) and flips.
    """

    epochs: int
    lr: float
    dropout: float = 0.0
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = True
    tune: str = "all"

    def __post_init__(self):
        check_choice("tune", self.tune, ("all", "last_layer"))
        if self.epochs < 1 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError(f"invalid recipe {self}: epochs, lr and batch_size must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataSpec:
    """A registered dataset plus its builder options (see ``lib.data.get_dataset``)."""

    name: str
    options: tuple = ()  # sorted (key, value) pairs, hashable

    @staticmethod
    def of(name: str, **options) -> "DataSpec":
        return DataSpec(name, tuple(sorted(options.items())))

    def kwargs(self) -> dict:
        return dict(self.options)

    def to_dict(self) -> dict:
        return {"name": self.name, "options": dict(self.options)}


@dataclass(frozen=True)
class Preset:
    """One scale of the book. ``train_size``/``test_size`` cap the target data
    (``None`` = all, class-stratified otherwise); ``target_holdout`` of that
    training set is left out of every run trained on it (the temperature split
    of §4.2, so that its runs are the premise's and §4.1's); ``track_size`` test
    images (class-stratified; ``None``: the whole ``test_size`` set) are tracked
    after every epoch by the target runs that draw training curves; ``seeds`` are the
    repeats of the sections that follow the preset's (the premise, §4).
    What only §4 uses (its targets, their sources and tuning lengths, the OOD
    sets, the temperature hold-out) lives in the settings of
    :mod:`lib.sections.ood` and :mod:`lib.sections.calibration`."""

    name: str
    description: str
    target: str
    targets: tuple
    architecture: str
    in_channels: int
    train_size: int | None
    test_size: int | None
    source: DataSpec
    pretrain: Recipe
    scratch: Recipe
    finetune: Recipe
    seeds: tuple = (0,)
    target_holdout: float = 0.0
    track_size: int | None = None
    source_variants: tuple = ()  # further sources pre-trained in notebook 00 (label, DataSpec)
    source_size: int | None = None  # cap on the source's training images (None = all)
    dry_run: bool = False  # shrunk to seconds by lib.dry_run; its numbers are meaningless
    # "trained": the source models are pre-trained here; "official": the paper's released
    # networks stand in for them (lib.weights, imported first), where one was released
    source_weights: str = "trained"
    # processes that pre-train each source data-parallel (torchrun; issue 16, item 5): it
    # enters the sources' run keys, so the fine-tunes find them (SOURCE_WORLD_SIZE)
    source_world_size: int = 1
    # bf16 autocast on the CPU for the target runs (scratch_run, finetune_run), as on CUDA;
    # the sources stay float32 (their shipped checkpoints keep their keys). It enters the
    # target runs' keys (RunConfig.cpu_autocast). Off in every preset: an opt-in
    # (cpu_precision="bf16", make book CPU_PRECISION=bf16), fast only on a CPU with native
    # bf16 (issue 23).
    cpu_autocast: bool = False

    def __post_init__(self):
        if not 0 <= self.target_holdout < 1:
            raise ValueError(f"preset {self.name!r}: target_holdout={self.target_holdout!r} is "
                             "not valid; valid: a fraction in [0, 1)")
        largest = self.test_size or float("inf")
        if self.track_size is not None and (
                isinstance(self.track_size, bool) or not isinstance(self.track_size, int)
                or not 1 <= self.track_size <= largest):
            raise ValueError(f"preset {self.name!r}: track_size={self.track_size!r} is not "
                             f"valid; valid: None (the test set) or an integer from 1 to the "
                             f"test set's size ({self.test_size or 'all'})")

    @property
    def label(self) -> str:
        """The preset's name, marked when it is a dry run, uses the released
        source models, or pre-trains its sources data-parallel."""
        return (self.name + " (dry run)" * self.dry_run
                + ", the paper's released source models" * (self.source_weights == "official")
                + (f", sources pre-trained over {self.source_world_size} processes"
                   if self.source_world_size > 1 else "")
                + ", bf16 autocast on the CPU" * self.cpu_autocast)

    def with_changes(self, **changes) -> "Preset":
        return replace(self, **changes)


_FRACTAL_QUICK = dict(num_classes=1000, per_class=50, size=28, channels=1, seed=0)
_FRACTAL_SMOKE = dict(num_classes=20, per_class=30, size=28, channels=1, seed=0)
# The 64×64 Downsampled ImageNet without the 200 Tiny ImageNet classes (paper §4):
# a source variant of the paper preset, and the source of §4's Tiny ImageNet models.
TINY_IMAGENET_SOURCE = ("64×64 without Tiny ImageNet classes",
                        DataSpec.of("imagenet64", exclude="tiny_imagenet"))

PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        description="tiny slices of the embedded data; seconds per notebook (tests, nbval, CI)",
        target="fashion_mnist", targets=("fashion_mnist",),
        architecture="wrn-10-1", in_channels=1,
        train_size=1000, test_size=500,
        source=DataSpec.of("fractal", **_FRACTAL_SMOKE),
        pretrain=Recipe(epochs=4, lr=0.1),
        scratch=Recipe(epochs=4, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=3, lr=0.05),
        seeds=(0,),
    ),
    "quick": Preset(
        name="quick",
        description="the embedded data (Fashion-MNIST subset, 1,000-class fractal source), "
                    "WRN-16-1; minutes per notebook on a 2-core CPU",
        target="fashion_mnist", targets=("fashion_mnist",),
        architecture="wrn-16-1", in_channels=1,
        train_size=5000, test_size=2000,
        source=DataSpec.of("fractal", **_FRACTAL_QUICK),
        pretrain=Recipe(epochs=15, lr=0.1),
        # Chosen on validation data by benchmarks/select_quick_source.py (lib.selection;
        # results/quick_source_selection.csv), every run in float32 (issue 23; the choice
        # under bf16 autocast before it was lr 0.01): 30 epochs at lr 0.05 without dropout
        # from scratch; fine-tuned from the 1,000×50 fractal source at lr 0.05. The numbers
        # are in the recorded table (the pre-training page shows it).
        scratch=Recipe(epochs=30, lr=0.05),
        finetune=Recipe(epochs=10, lr=0.05),
        # Three seeds of both arms, for the premise's, §4.1's and §4.2's noise bands. Every
        # run on the preset's training set leaves out §4.2's 10% temperature split (the
        # paper holds it out in §4.2 only), so one set of runs serves the premise, §3.3's
        # Normal Training, §4.1 and §4.2: three seeds fit the cold-build budget (issue 17).
        seeds=(0, 1, 2),
        target_holdout=0.1,
        # The training curves (the premise's, Figure 4's) track 500 of the 2,000 test
        # images after each epoch, each curve a mean over the three seeds: every claim is
        # scored on all 2,000. Tracking 1,000 cost about 0.4 s of each 4.6-s epoch
        # (cold-build budget, issue 23).
        track_size=500,
        # Trained in float32 on the CPU (issue 23): bf16 autocast is about 1.7 times as fast
        # only on a CPU with native bf16, and 10 times slower where it is emulated (AVX2 only),
        # so the main job's speed and numbers would hang on the CPU model
        # (benchmarks/results/train_throughput_cpu.md). cpu_autocast stays an opt-in.
    ),
    "paper": Preset(
        name="paper",
        description="the paper's datasets and hyperparameters (WRN-40-2, Downsampled "
                    "ImageNet 32×32 source); needs a GPU and the data root",
        target="cifar10", targets=("cifar10", "cifar100"),
        architecture="wrn-40-2", in_channels=3,
        train_size=None, test_size=None,
        source=DataSpec.of("imagenet32"),
        # Official downsampled_train/baseline.py lines 25-27: 100 epochs, lr 0.1,
        # batch 256 (every source of this preset, the 64×64 one included).
        pretrain=Recipe(epochs=100, lr=0.1, batch_size=256),
        scratch=Recipe(epochs=100, lr=0.1, dropout=0.3),
        finetune=Recipe(epochs=10, lr=0.001),
        seeds=(0, 1, 2, 3, 4),
        source_variants=(
            ("without CIFAR-10-related classes", DataSpec.of("imagenet32", exclude="cifar10_related")),
            TINY_IMAGENET_SOURCE,
        ),
    ),
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises ``ValueError``
    listing the valid presets."""
    check_choice("preset", name, PRESETS)
    return PRESETS[name]


def get_run_preset(name: str, dry_run: bool = False, source: str = "trained",
                   source_world_size: int = 1, cpu_precision: str = "float32") -> Preset:
    """The preset called ``name``, shrunk to its dry run when ``dry_run``
    (:func:`lib.dry_run.dry_run_preset`), its source models the paper's
    released ones when ``source="official"`` (paper preset only:
    :func:`lib.weights.source_for`), its sources pre-trained data-parallel over
    ``source_world_size`` processes (:func:`check_source_world_size`), its
    target runs trained under bf16 autocast on the CPU when
    ``cpu_precision="bf16"`` (:data:`CPU_PRECISION_CHOICES`; a different run key)."""
    preset = get_preset(name)
    check_source(source, name)
    check_source_world_size(source_world_size, source)
    if check_cpu_precision(cpu_precision) == "bf16":
        preset = replace(preset, cpu_autocast=True)
    if source != "trained":
        preset = replace(preset, source_weights=source)
    if source_world_size != 1:
        preset = replace(preset, source_world_size=source_world_size)
    if not dry_run:
        return preset
    from lib.dry_run import dry_run_preset

    return dry_run_preset(preset)


# What the target runs train in on the CPU (make book CPU_PRECISION=...; issue 23): float32,
# the default of every preset, or bf16 autocast, an opt-in that is about 1.7 times as
# fast on a CPU with native bf16 and about 10 times slower where bf16 is emulated (AVX2 only;
# lib.training.precision.cpu_bf16_notice says which, up front). CUDA trains in bf16 either way.
CPU_PRECISION_CHOICES = ("float32", "bf16")


def check_cpu_precision(value: str) -> str:
    """``value`` is one of :data:`CPU_PRECISION_CHOICES`; else a ``ValueError``
    naming the parameter (and its ``make`` variable), the value and the choices."""
    if value not in CPU_PRECISION_CHOICES:
        raise ValueError(f"cpu_precision={value!r} (CPU_PRECISION) is not valid; choose one "
                         "of: 'float32' (the default), 'bf16' (bf16 autocast on the CPU, an "
                         "opt-in: fast only on a CPU with native bf16)")
    return value

# What ``SOURCE`` (make book SOURCE=official) can be: the source models trained here, or the
# paper's released networks (lib.weights), which exist for the paper preset only.
SOURCE_CHOICES = ("trained", "official")


def check_source(source: str, preset: str) -> None:
    """``source`` is one of :data:`SOURCE_CHOICES`, and ``"official"`` only at the paper preset."""
    check_choice("source", source, SOURCE_CHOICES)
    if source == "official" and preset != "paper":
        raise ValueError(f"source='official' (SOURCE) is not valid at the {preset} preset: the "
                         "released networks are the paper's (CIFAR, Downsampled ImageNet); use "
                         "it with PRESET=paper, or source='trained'")


def check_source_world_size(value, source: str = "trained") -> int:
    """``value`` (an int, or its text from ``make``) is a positive integer, and
    1 unless the sources are trained here (``source="trained"``)."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"source_world_size={value!r} (SOURCE_WORLD_SIZE) is not valid; "
                         "valid: a positive integer, the processes (GPUs) that pre-trained "
                         "the sources with torchrun (default 1: one process)")
    if int(text) > 1 and source != "trained":
        raise ValueError(f"source_world_size={value!r} (SOURCE_WORLD_SIZE) is not valid with "
                         f"source={source!r}: the released networks are imported, not "
                         "trained here; leave it at 1")
    return int(text)


# The ``device`` parameter's choices (``lib.devices.resolve_device``; ``cuda:N``
# names one GPU), here too so that ``check`` runs before torch is installed.
DEVICE_CHOICES = ("auto", "cpu", "cuda")
# ``DRY_RUN`` (make book DRY_RUN=1, lib.dry_run): on, or off (empty by default).
DRY_RUN_CHOICES = ("1", "true", "yes", "0", "false", "no", "")
_USAGE = ("usage: python -m lib.presets check PRESET [--device DEVICE] [--data-root DATA_ROOT] "
          "[--dry-run DRY_RUN] [--source SOURCE] [--source-world-size N] "
          "[--cpu-precision float32|bf16]")


def check_parameters(preset: str, device: str | None = None, data_root: str | None = None,
                     dry_run: str | None = None, source: str | None = None,
                     source_world_size: str | None = None, cpu_precision: str | None = None):
    """What ``make`` validates before anything is installed: the preset, the
    device (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and a data root that is
    not empty (an empty one would silently be the current directory); each
    bad value raises ``ValueError`` naming the parameter, the value and the
    valid choices; so do a ``dry_run`` that is not one of
    :data:`DRY_RUN_CHOICES`, a bad ``source`` (:func:`check_source`) and a bad
    ``source_world_size`` (:func:`check_source_world_size`) and a
    ``cpu_precision`` that is not one of :data:`CPU_PRECISION_CHOICES`."""
    get_preset(preset)
    if cpu_precision is not None:
        check_cpu_precision(cpu_precision)
    if source is not None:
        check_source(source, preset)
    if source_world_size is not None:
        check_source_world_size(source_world_size, source or "trained")
    if dry_run is not None and dry_run.lower() not in DRY_RUN_CHOICES:
        raise ValueError(f"dry_run={dry_run!r} (DRY_RUN) is not valid; valid: 1, true, yes "
                         "(a dry run), 0, false, no or empty (none)")
    if device is not None:
        base, _, index = device.partition(":")
        if base != "cuda" or not index.isdigit():
            check_choice("device", device, DEVICE_CHOICES)
    if data_root is not None and not data_root.strip():
        raise ValueError(f"data_root={data_root!r} (DATA_ROOT) is empty; give the folder "
                         "that holds the datasets (default: ~/data), or leave DATA_ROOT unset")


def _main(argv: list[str]) -> int:
    if not argv or argv[0] != "check" or len(argv) % 2:
        print(_USAGE, file=sys.stderr)
        return 2
    options = dict(zip(argv[2::2], argv[3::2]))
    if set(options) - {"--device", "--data-root", "--dry-run", "--source",
                       "--source-world-size", "--cpu-precision"}:
        print(_USAGE, file=sys.stderr)
        return 2
    try:
        check_parameters(argv[1], options.get("--device"), options.get("--data-root"),
                         options.get("--dry-run"), options.get("--source"),
                         options.get("--source-world-size"), options.get("--cpu-precision"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
