"""The authors' released networks (paper §3, §4; issue 15, items 3 and 6):
what was published, where, with which hash, and the run each one is in the
run cache (:func:`released_run`), which stands for a pre-training run when
the sources are the official ones (``SOURCE=official``, :func:`source_for`).
Their import, verification and command line are :mod:`lib.weights`; their
measurement :mod:`lib.released`. The catalogue is :data:`RELEASES`
(:func:`register_release`, :func:`list_releases`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.models import ARCHITECTURES, OFFICIAL_NORMALIZATION
from lib.parameters import SOURCE_CHOICES
from lib.presets import SOURCE_TRACK_SIZE
from lib.registry import Registry
from lib.specs import DataSpec, Recipe
from lib.training.run_config import EvalDataSpec, RunConfig, TrainingDataSpec
from lib.validation import check_choice

OFFICIAL_REPO = "https://github.com/hendrycks/pre-training"
OFFICIAL_COMMIT = "10cd02a"
ADVERSARIAL_DRIVE = "https://drive.google.com/drive/folders/1bqipqqZF8hTcEP4Kn0lb8TfH4Sny6ANX"
ROBUSTBENCH = "https://github.com/RobustBench/robustbench"
SOURCES = SOURCE_CHOICES  # what SOURCE= (the pre-trained source models) can be


@dataclass(frozen=True)
class Release:
    """One released network. ``where``: where it is published (``path`` in
    it); ``git_blob_sha1``: its hash in the official repository (empty: none
    was published); ``dataset``: what it was trained on; ``source``: whether it
    is a pre-trained source model (what ``SOURCE=official`` substitutes);
    ``num_classes=None``: read from the file's classifier; ``recipe``: the
    official script's defaults, for the record (it is never trained here)."""

    name: str
    what: str
    where: str
    path: str
    architecture: str
    dataset: DataSpec
    num_classes: int | None
    recipe: Recipe
    git_blob_sha1: str = ""
    source: bool = False
    objective: str = "cross_entropy"

    @property
    def depth_width(self) -> tuple[int, int]:
        return ARCHITECTURES[self.architecture]


RELEASES: Registry[Release] = Registry("name")  # the parameter of get_release and the CLI


def register_release(release: Release) -> Release:
    """Add ``release`` to :data:`RELEASES` under its name."""
    return RELEASES.add(release.name, release)


_SOURCE_RECIPE = Recipe(epochs=100, lr=0.1, batch_size=256)  # downsampled_train/baseline.py
_TUNE_RECIPE = Recipe(epochs=10, lr=0.001)                    # uncertainty/CIFAR/tune.py
_BASELINE_RECIPE = Recipe(epochs=100, lr=0.1, dropout=0.3)    # uncertainty/CIFAR/baseline.py
_ADV_TUNE_RECIPE = Recipe(epochs=5, lr=0.001)                 # robustness/adversarial/tune.py

_RELEASES = tuple(map(register_release, (
    Release("imagenet32-wrn-40-2",
            "WRN-40-2 pre-trained 100 epochs on Downsampled ImageNet 32×32 (the paper's "
            "source model, §3 and §4)",
            OFFICIAL_REPO, "downsampled_train/snapshots/40_2/imagenet_wrn_baseline_epoch_99.pt "
            "(the same file: uncertainty/CIFAR/snapshots/imagenet/)",
            "wrn-40-2", DataSpec.of("imagenet32"), 1000, _SOURCE_RECIPE,
            "a78cb7db41227a929e557ab81e12ff02d518949c", source=True),
    Release("imagenet32-no-cifar10-wrn-40-2",
            "WRN-40-2 pre-trained on Downsampled ImageNet 32×32 without the CIFAR-10-related "
            "classes (§3.1); its class count is read from the file",
            OFFICIAL_REPO, "downsampled_train/snapshots/40_2/cifar10_excluded/"
            "imagenet_wrn_baseline_epoch_99.pt (the same file: "
            "uncertainty/CIFAR/snapshots/imagenet/cifar10_excluded/)",
            "wrn-40-2", DataSpec.of("imagenet32", exclude="cifar10_related"), None,
            _SOURCE_RECIPE, "d947554cf5c08bee41fa1468bf57090a9480d876", source=True),
    Release("cifar10-tuned-wrn-40-2",
            "the ImageNet 32×32 WRN-40-2 fine-tuned 10 epochs on CIFAR-10 (§4)",
            OFFICIAL_REPO, "uncertainty/CIFAR/snapshots/tuned/cifar10_wrn_baseline_epoch_9.pt",
            "wrn-40-2", DataSpec.of("cifar10"), 10, _TUNE_RECIPE,
            "eadf22652f03216e89ced89e6a695b37c312d7b6"),
    Release("cifar100-tuned-wrn-40-2",
            "the ImageNet 32×32 WRN-40-2 fine-tuned 10 epochs on CIFAR-100 (§4)",
            OFFICIAL_REPO, "uncertainty/CIFAR/snapshots/tuned/cifar100_wrn_baseline_epoch_9.pt",
            "wrn-40-2", DataSpec.of("cifar100"), 100, _TUNE_RECIPE,
            "54a5960aec8d2338dea2e929a53b8070135b3d73"),
    Release("cifar10-baseline-wrn-40-2",
            "WRN-40-2 trained from scratch 100 epochs on CIFAR-10, dropout 0.3 (§4)",
            OFFICIAL_REPO,
            "uncertainty/CIFAR/snapshots/baseline/cifar10_wrn_baseline_epoch_99.pt",
            "wrn-40-2", DataSpec.of("cifar10"), 10, _BASELINE_RECIPE,
            "79776563d2e812a1308b3f51ceefdced372104f5"),
    Release("cifar100-baseline-wrn-40-2",
            "WRN-40-2 trained from scratch 100 epochs on CIFAR-100, dropout 0.3 (§4)",
            OFFICIAL_REPO,
            "uncertainty/CIFAR/snapshots/baseline/cifar100_wrn_baseline_epoch_99.pt",
            "wrn-40-2", DataSpec.of("cifar100"), 100, _BASELINE_RECIPE,
            "6b7303d41a1af6f2bac72b30a891cbfad931fee0"),
    Release("tiny-imagenet-baseline-wrn-40-2",
            "WRN-40-2 trained from scratch 100 epochs on Tiny ImageNet (64×64, §4)",
            OFFICIAL_REPO, "uncertainty/TinyImageNet/snapshots/baseline/wrn_baseline_epoch_99.pt",
            "wrn-40-2", DataSpec.of("tiny_imagenet"), 200, _BASELINE_RECIPE,
            "efe7407e8bde9024b3181d8a7a81b9c850879380"),
    Release("tiny-imagenet-tuned-wrn-40-2",
            "WRN-40-2 pre-trained on Downsampled ImageNet 64×64 without the Tiny ImageNet "
            "classes, fine-tuned 20 epochs on Tiny ImageNet (§4)",
            OFFICIAL_REPO, "uncertainty/TinyImageNet/snapshots/tune/wrn_baseline_epoch_19.pt",
            "wrn-40-2", DataSpec.of("tiny_imagenet"), 200, Recipe(epochs=20, lr=0.001),
            "732cf7b4aee36ee9bf0a29d62f625fe7ae13428c"),
    Release("imagenet32-adversarial-wrn-28-10",
            "WRN-28-10 adversarially pre-trained 100 epochs on Downsampled ImageNet 32×32 "
            "against untargeted PGD-10 (§3.3; about 15 GPU-days)",
            ADVERSARIAL_DRIVE, "the snapshot folder of robustness/adversarial/README.md "
            "(imagenet_unt_10)",
            "wrn-28-10", DataSpec.of("imagenet32"), 1000, _SOURCE_RECIPE,
            source=True, objective="adversarial"),
    Release("robustbench-hendrycks2019using-cifar10",
            "the adversarially pre-trained WRN-28-10 adversarially fine-tuned on CIFAR-10 "
            "(§3.3, Table 3), as RobustBench serves it",
            ROBUSTBENCH, "robustbench.utils.load_model('Hendrycks2019Using', "
            "dataset='cifar10', threat_model='Linf')",
            "wrn-28-10", DataSpec.of("cifar10"), 10, _ADV_TUNE_RECIPE, objective="adversarial"),
    Release("robustbench-hendrycks2019using-cifar100",
            "the adversarially pre-trained WRN-28-10 adversarially fine-tuned on CIFAR-100 "
            "(§3.3, Table 3), as RobustBench serves it",
            ROBUSTBENCH, "robustbench.utils.load_model('Hendrycks2019Using', "
            "dataset='cifar100', threat_model='Linf')",
            "wrn-28-10", DataSpec.of("cifar100"), 100, _ADV_TUNE_RECIPE, objective="adversarial"),
)))
list_releases = release_names = RELEASES.names
get_release = RELEASES.get  # an unknown name fails, listing them all


# -- the run a released file is -----------------------------------------------------------

def released_run(name: str) -> RunConfig:
    """The run cache's config of the released file ``name``: its architecture,
    its training data (a source's held-out test set tracked, like
    :func:`lib.experiments.source_run`), the official normalization and
    ``released=name``. It does not depend on any preset, so one import serves
    the paper preset and its dry run alike."""
    r = get_release(name)
    track = (EvalDataSpec(r.dataset, size=SOURCE_TRACK_SIZE, split="test") if r.source
             else EvalDataSpec(r.dataset))
    return RunConfig(architecture=r.architecture, in_channels=3, data=TrainingDataSpec(r.dataset),
                     recipe=r.recipe, objective=r.objective, track=track,
                     normalization=OFFICIAL_NORMALIZATION, released=name,
                     label=f"released[{name}]")


def released_counterpart(config: RunConfig) -> RunConfig | None:
    """The released source model that stands for the pre-training run
    ``config`` (same architecture, source dataset and objective), or ``None``."""
    if config.released:
        return None
    for r in _RELEASES:
        if (r.source and r.architecture == config.architecture and config.in_channels == 3
                and r.dataset == config.data.dataset and r.objective == config.objective):
            return released_run(r.name)
    return None


def source_for(config: RunConfig, source: str = "trained") -> RunConfig:
    """The pre-training run ``config`` when ``source="trained"``; with
    ``"official"`` its released counterpart where there is one
    (:func:`released_counterpart`; a source without one, e.g. the 64×64 one
    without Tiny ImageNet classes, stays trained)."""
    check_choice("source", source, SOURCES)
    if source == "trained":
        return config
    return released_counterpart(config) or config


