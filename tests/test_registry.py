"""The shared name → object registry and the registries built on it."""

import sys

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
    assert registry.get("c", None) is None and dict(registry) == {"a": 1, "b": 2}
    registry["b"] = 4  # replaces (monkeypatch.setitem); add() still refuses a second "b"
    del registry["a"]
    assert dict(registry) == {"b": 4}


def test_providers_are_imported_on_first_lookup_only(tmp_path, monkeypatch):
    """Explicit registration (issue 13, item 7): the registry names the modules
    that fill it and imports them itself, once, when first asked."""
    (tmp_path / "widget_provider.py").write_text(
        "from test_registry_widgets import WIDGETS\n"
        "IMPORTS = globals().get('IMPORTS', 0) + 1\n"
        "WIDGETS.add('gear', 'a gear')\n")
    (tmp_path / "test_registry_widgets.py").write_text(
        "from lib.registry import Registry\n"
        "WIDGETS = Registry('widget', providers=('widget_provider',))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("widget_provider", "test_registry_widgets"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    from test_registry_widgets import WIDGETS

    assert "widget_provider" not in sys.modules  # nothing imported at construction
    assert WIDGETS.get("gear") == "a gear"
    assert WIDGETS.names() == ["gear"] and "gear" in WIDGETS and len(WIDGETS) == 1
    assert sys.modules["widget_provider"].IMPORTS == 1
    with pytest.raises(ValueError, match="widget='cog' is not valid; choose one of: 'gear'"):
        WIDGETS.get("cog")


def test_a_provider_that_fails_to_import_fails_every_lookup(tmp_path, monkeypatch):
    (tmp_path / "broken_provider.py").write_text("raise ImportError('a missing dependency')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("widget", providers=("broken_provider",))
    for _ in range(2):  # not a silently empty registry the second time
        with pytest.raises(ImportError, match="a missing dependency"):
            registry.names()


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError) as error:
        get_dataset("imagenet_full")
    for name in ("fashion_mnist", "cifar10", "fractal", "glyphs"):
        assert repr(name) in str(error.value)
    assert {"lsun_raw", "imagenet_heldout", "svhn", "tiny_imagenet"} <= set(dataset_names())
    assert len(dataset_names()) == 20


def test_unknown_objective_and_transform():
    with pytest.raises(ValueError, match="objective='mixup'"):
        get_objective("mixup")
    for name in ("corrupt_labels", "power_law_imbalance", "oversample", "smote",
                 "class_weights"):
        assert name in transform_names()
