"""Contract tests over every registered name (issue 13, item 7): each dataset,
training objective, training-set transform, section, section method and
section claim keeps the promise of its kind. A newly registered entry is
tested by being registered."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.claims import VERDICTS, Claim, claims_frame
from lib.data import DatasetNotFoundError, dataset_info, dataset_names, get_dataset
from lib.data.registry import reads_data_root
from lib.data.base import ImageDataset
from lib.data.loader import Batch
from lib.imbalance import class_priors
from lib.models import build_model
from lib.noise import matrix_param, uniform_corruption_matrix
from lib.presets import PRESETS
from lib.results import IDENTITY, UNITS
from lib.sections import SECTIONS, get_section, section_names
from lib.sections.base import ARMS, DeferredRun, Method, Section
from lib.training.objectives import OBJECTIVES
from lib.training.run_config import TRANSFORMS, RunConfig

REPO = Path(__file__).resolve().parents[1]
K = 4  # classes of the tiny batches and datasets below

# -- datasets ----------------------------------------------------------------------------

SMALL_OPTIONS = {"fractal": dict(num_classes=3, per_class=2, size=16)}  # else: defaults


@pytest.mark.parametrize("name", dataset_names())
def test_dataset_info_is_complete(name):
    info = dataset_info(name)
    assert info.name == name
    assert isinstance(info.num_classes, int) and info.num_classes >= 1
    for size in (info.image_size, info.channels):
        assert size is None or (isinstance(size, int) and size > 0)
    for text in (info.source, info.licence, info.how_to_get):
        assert isinstance(text, str) and text.strip(), f"{name}: empty source/licence/how_to_get"
    assert len(info.class_names) in (0, info.num_classes)


@pytest.mark.parametrize("name", dataset_names())
def test_dataset_loads_or_says_where_it_looked(name, tmp_path):
    """From an empty data root an embedded dataset loads; a real one fails with
    DatasetNotFoundError naming itself, the path looked at and how to get it."""
    info = dataset_info(name)
    try:
        data = get_dataset(name, "test", tmp_path, **SMALL_OPTIONS.get(name, {}))
    except DatasetNotFoundError as error:
        assert reads_data_root(name), f"{name} is generated or embedded but did not load"
        message = str(error)
        assert repr(name) in message and str(tmp_path) in message and "How to get it" in message
        return
    assert not reads_data_root(name), f"{name} loaded from an empty data root"
    assert isinstance(data, ImageDataset) and len(data) > 0
    images = data.images
    assert images.dtype == torch.uint8 and images.ndim == 4
    assert data.labels.dtype == torch.int64 and len(data.labels) == len(images)
    assert 0 <= int(data.labels.min()) and int(data.labels.max()) < data.num_classes
    if name not in SMALL_OPTIONS:
        assert data.num_classes == info.num_classes
        if info.channels:
            assert images.shape[1] == info.channels
        if info.image_size:
            assert tuple(images.shape[2:]) == (info.image_size, info.image_size)


# -- objectives --------------------------------------------------------------------------

# Parameters of each objective on the tiny batch below. A new objective must
# add its entry here (test_every_objective_has_an_example).
OBJECTIVE_EXAMPLES = {
    "cross_entropy": {},
    "forward_corrected": {"matrix": matrix_param(uniform_corruption_matrix(K, 0.3))},
    "glc": {"matrix": matrix_param(uniform_corruption_matrix(K, 0.3)), "num_trusted": 2},
    "logit_adjusted": {"priors": class_priors([8, 4, 2, 1])},
    "adversarial": {"steps": 1},
}


def tiny_batch(weight=None) -> Batch:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 8, 8, generator=generator)
    return Batch(x, torch.tensor([0, 1, 2, 3, 0, 1]), weight, torch.arange(6))


def test_every_objective_has_an_example():
    assert sorted(OBJECTIVES) == sorted(OBJECTIVE_EXAMPLES)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_returns_loss_and_logits(name):
    objective, params = OBJECTIVES.get(name), OBJECTIVE_EXAMPLES[name]
    torch.manual_seed(0)
    model = build_model("wrn-10-1", K, 1).train()
    batch = tiny_batch()
    torch.manual_seed(1)
    loss, logits = objective(model, batch, **params)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    assert tuple(logits.shape) == (len(batch.y), K)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    # per-example weights scale each example's loss: uniform weights change nothing
    model.zero_grad()
    torch.manual_seed(1)
    weighted, _ = objective(model, tiny_batch(torch.full((6,), 3.0)), **params)
    assert float(weighted.detach()) == pytest.approx(float(loss.detach()), rel=1e-5)


# -- transforms --------------------------------------------------------------------------

TRANSFORM_EXAMPLES = {
    "corrupt_labels": {"strength": 0.5, "trusted_fraction": 0.25},
    "power_law_imbalance": {"gamma": 0.5, "largest": 6, "smallest": 2},
    "oversample": {},
    "smote": {},
    "class_weights": {},
}
# SMOTE adds synthetic images, so it cannot be a view (lib.imbalance.smote):
# its images are the input's followed by the new ones.
NOT_VIEWS = {"smote"}


def tiny_dataset() -> ImageDataset:
    sizes = [10, 6, 5, 3]
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (sum(sizes), 1, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    return ImageDataset(images, labels, K).subset(torch.randperm(len(labels), generator=generator))


def test_every_transform_has_an_example():
    assert sorted(TRANSFORMS) == sorted(TRANSFORM_EXAMPLES)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_returns_a_view_of_the_same_images(name):
    data = tiny_dataset()
    out = TRANSFORMS.get(name)(data, seed=3, **TRANSFORM_EXAMPLES[name])
    assert isinstance(out, ImageDataset) and len(out) > 0
    assert out.num_classes == data.num_classes and out.shape == data.shape
    assert int(out.labels.min()) >= 0 and int(out.labels.max()) < K
    if name in NOT_VIEWS:
        assert torch.equal(out.images[: len(data)], data.images)
    else:
        assert out.base_images is data.base_images  # no pixel copied
        rows = set(data._row_indices().tolist())
        assert set(out._row_indices().tolist()) <= rows
    again = TRANSFORMS.get(name)(data, seed=3, **TRANSFORM_EXAMPLES[name])
    assert torch.equal(again.labels, out.labels) and torch.equal(again.images, out.images)
    if out.weights is not None:
        assert torch.equal(again.weights, out.weights) and bool((out.weights >= 0).all())


def test_registries_fill_themselves_in_a_fresh_interpreter(tmp_path):
    """RunConfig(objective="glc") and with_transform("corrupt_labels") with
    nothing else imported: the registries import their providers."""
    code = f"""
import sys
from lib.presets import DataSpec, Recipe
from lib.training.run_config import RunConfig, TrainingDataSpec
spec = TrainingDataSpec(DataSpec.of("fractal", num_classes=3, per_class=4, size=16, channels=1))
spec = spec.with_transform("corrupt_labels", strength=0.5)
train, _ = spec.build({str(tmp_path)!r})
matrix = tuple(tuple(1.0 if i == j else 0.0 for j in range(3)) for i in range(3))
config = RunConfig("wrn-10-1", 1, spec, Recipe(epochs=1, lr=0.1, batch_size=4), objective="glc",
                   objective_params=(("matrix", matrix), ("num_trusted", 0)))
print(config.key(), len(train))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    key, size = result.stdout.split()
    from lib.presets import DataSpec, Recipe
    from lib.training.run_config import TrainingDataSpec

    spec = TrainingDataSpec(DataSpec.of("fractal", num_classes=3, per_class=4, size=16,
                                        channels=1)).with_transform("corrupt_labels",
                                                                    strength=0.5)
    matrix = tuple(tuple(1.0 if i == j else 0.0 for j in range(3)) for i in range(3))
    here = RunConfig("wrn-10-1", 1, spec, Recipe(epochs=1, lr=0.1, batch_size=4),
                     objective="glc", objective_params=(("matrix", matrix), ("num_trusted", 0)))
    assert key == here.key() and int(size) == 12  # the same run key as a fully loaded process


# -- sections ----------------------------------------------------------------------------

SECTION_NAMES = section_names()
PRESET_NAMES = list(PRESETS)


def code_of(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def notebook_of(name: str) -> Path:
    """The notebook that runs section ``name`` (``notebook.start("name", …)``)."""
    found = [path for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             if re.search(rf"notebook\.start\(\s*[\"']{name}[\"']", code_of(path))]
    assert len(found) == 1, f"section {name!r}: notebooks starting it: {found}"
    return found[0]


def notebook_calls(path: Path, kind: str) -> list[str]:
    return re.findall(rf"session\.{kind}\(\s*[\"'](\w+)[\"']\s*\)", code_of(path))


def test_every_section_module_is_registered():
    assert SECTION_NAMES == ["pretraining", "label_noise", "imbalance", "adversarial", "ood",
                             "calibration", "released"]
    assert sorted(SECTIONS) == sorted(SECTION_NAMES)


@pytest.mark.parametrize("name", SECTION_NAMES)
def test_section_is_what_its_module_defines(name):
    section = get_section(name)
    assert isinstance(section, Section) and section.name == name
    assert SECTIONS.get(name) is section
    assert section.title.strip() and section.paper.strip()
    assert callable(section.plan) and callable(section.run) and callable(section.claims)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", SECTION_NAMES)
def test_settings_for_every_preset(name, preset):
    section = get_section(name)
    assert list(section.settings) == PRESET_NAMES
    settings = section.settings_for(preset)
    assert dataclasses.is_dataclass(settings) and type(settings).__dataclass_params__.frozen
    text = settings.describe()
    assert isinstance(text, str) and text.strip()
    assert text == section.settings_for(PRESETS[preset]).describe()  # deterministic
    assert "0x" not in text, "describe() shows an object's address"


def _ident(entry):
    return ("deferred", entry.label) if isinstance(entry, DeferredRun) else entry.key()


def _parents(entry) -> list:
    if isinstance(entry, DeferredRun):
        return list(entry.parents)
    return [] if entry.init is None else [entry.init]


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", SECTION_NAMES)
def test_plan_lists_valid_runs_parents_first(name, preset):
    section = get_section(name)
    raw = section.plan(PRESETS[preset])
    planned = section.planned(preset)
    assert planned or name == "released", f"{name} plans no run at {preset}"  # released: imports
    seen = set()
    for entry in planned:
        assert isinstance(entry, (RunConfig, DeferredRun)), entry
        if isinstance(entry, RunConfig):
            key = entry.key()
            assert re.fullmatch(r"[0-9a-f]{16}", key)
            json.dumps(entry.to_dict())  # everything that determines the weights is JSON
        for parent in _parents(entry):
            assert _ident(parent) in seen, f"{name}@{preset}: a parent comes after its child"
        assert _ident(entry) not in seen, f"{name}@{preset}: a run is planned twice"
        seen.add(_ident(entry))
    # the section's own list keeps parents first too, and every one of its runs is planned
    position = {}  # where each run first appears
    for i, entry in enumerate(raw):
        position.setdefault(_ident(entry), i)
    for i, entry in enumerate(raw):
        assert _ident(entry) in seen
        for parent in _parents(entry):
            assert position.get(_ident(parent), -1) < i
    assert [_ident(e) for e in section.planned(preset)] == [_ident(e) for e in planned]


@pytest.mark.parametrize("name", SECTION_NAMES)
def test_tables_and_figures_are_named_and_shown(name):
    """Every table and figure is registered under a name, and the section's
    notebook draws exactly those."""
    section = get_section(name)
    assert section.tables or section.figures
    for registry in (section.tables, section.figures):
        for key, draw in registry.items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key) and callable(draw)
    path = notebook_of(name)
    for kind, registry in (("table", section.tables), ("figure", section.figures)):
        drawn = notebook_calls(path, kind)
        assert sorted(set(drawn)) == sorted(registry), f"{path.name}: {kind}s drawn {drawn}"


def _methods():
    out = []
    for name in SECTION_NAMES:
        get_section(name)
        registry = getattr(sys.modules[f"lib.sections.{name}"], "METHODS", None)
        if registry is not None:
            out += [(name, method) for method in registry]
    return out


METHODS = _methods()


def test_sections_with_methods():
    assert {s for s, _ in METHODS} >= {"label_noise", "imbalance", "adversarial"}


@pytest.mark.parametrize("section,method", METHODS)
def test_method_has_a_title_and_valid_arms(section, method):
    entry = sys.modules[f"lib.sections.{section}"].METHODS.get(method)
    assert isinstance(entry, Method) and entry.name == method
    assert isinstance(entry.title, str) and entry.title.strip()
    assert entry.arms and set(entry.arms) <= set(ARMS) and len(set(entry.arms)) == len(entry.arms)
    assert isinstance(entry.stages, int) and entry.stages >= 1
    assert callable(entry.train) and callable(entry.plan)
    dict(entry.facts)  # (name, value) pairs


# -- claims, on a smoke execution ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SECTION_NAMES if n != "released"])  # no smoke claim
def test_claims_are_judged_once_per_claim_and_dataset(name, smoke_env):
    from lib import notebook

    session = notebook.start(name, "smoke", None, "cpu")
    rows = session.run()
    assert not rows.duplicated(IDENTITY).any(), "two rows of this execution share an identity"
    assert set(rows.unit) <= set(UNITS) and set(rows.section) == {name}
    claims = session.judged()
    assert claims, f"{name} judges no claim at smoke"
    for claim in claims:
        assert isinstance(claim, Claim) and claim.section == name and claim.preset == "smoke"
        assert claim.dataset in set(rows.dataset), claim.dataset
        assert claim.verdict in VERDICTS and claim.better in ("lower", "higher")
        assert math.isfinite(claim.band) and claim.band >= 0 and claim.band_kind.strip()
        assert claim.seeds >= 1 and math.isfinite(claim.magnitude)
        for text in (claim.key, claim.statement, claim.metric, claim.magnitude_name,
                     claim.paper_values, claim.paper_magnitude):
            assert isinstance(text, str) and text.strip()
        assert claim.verdict in claim.sentence()
    frame = claims_frame(claims)
    assert not frame.duplicated(["claim", "dataset"]).any()
    assert session.judged() is claims  # judged once
    assert np.all(frame.verdict == [c.verdict for c in claims])
