"""The shared name → object registry and the registries built on it."""

import pytest

from lib.data import dataset_names, get_dataset
from lib.registry import Registry
from lib.training.objectives import get_objective
from lib.training.run_config import transform_names


def test_register_get_and_errors():
    registry = Registry("widget")
    registry.register("a")(1)
    registry.add("b", 2)
    assert registry["a"] == 1 and registry.get("b") == 2
    assert registry.names() == ["a", "b"] and "a" in registry and len(registry) == 2
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 3)
    with pytest.raises(ValueError, match=r"widget='c' is not valid; choose one of: 'a', 'b'"):
        registry.get("c")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_dataset("imagenet_full")
    for name in ("fashion_mnist", "cifar10", "fractal", "glyphs"):
        assert repr(name) in str(error.value)
    assert len(dataset_names()) == 18


def test_unknown_objective_and_transform():
    import lib.experiments  # noqa: F401  (registers the section transforms and objectives)

    with pytest.raises(ValueError, match="objective='mixup'"):
        get_objective("mixup")
    assert "corrupt_labels" in transform_names()
