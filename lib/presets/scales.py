"""The three presets, one per scale of every experiment: ``smoke``, ``quick``
and ``paper`` (design.md §4).

A preset fixes the target data, the pre-training source, the architecture and
the recipes shared by every section. ``paper`` carries the paper's own
settings (§3, §4: WRN-40-2, SGD with Nesterov momentum, cosine schedule; from
scratch 100 epochs at lr 0.1 with dropout 0.3; fine-tuning 10 epochs at lr
0.001 without dropout). Standard library only (see :mod:`lib.presets`).
:data:`PRESETS` is their registry (:func:`list_presets`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lib.registry import Registry
from lib.specs import DataSpec, Recipe


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

# The source test images every pre-training run tracks after each epoch (fewer for a
# source capped by its preset: lib.experiments.source_track_size), released sources too.
SOURCE_TRACK_SIZE = 2000

PRESETS: Registry[Preset] = Registry("preset")
for _preset in (
    Preset(
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
    Preset(
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
    Preset(
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
):
    PRESETS.add(_preset.name, _preset)
list_presets = preset_names = PRESETS.names
get_preset = PRESETS.get  # an unknown name fails, listing the valid presets
