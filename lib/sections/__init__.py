"""The paper's sections, one module each (or a package split by job:
settings, runs, report, claims), all following one protocol
(:mod:`lib.sections.base`): settings per preset, ``plan``, ``run``, tables,
figures and claims. Each defines ``SECTION`` and adds it to
:data:`SECTIONS`, which imports the section modules itself on first use;
:func:`get_section` imports only the one asked for; :func:`list_sections`
lists them."""

from importlib import import_module

from lib.registry import Registry
from lib.validation import check_choice

# The paper's six sections first, in the book's order, then the page of the released models.
SECTION_MODULES = ("pretraining", "label_noise", "imbalance", "adversarial", "ood", "calibration",
                   "released")

SECTIONS = Registry("section", providers=tuple(f"lib.sections.{m}" for m in SECTION_MODULES))


def get_section(name: str):
    """The :class:`~lib.sections.base.Section` called ``name`` (an unknown name
    fails, listing the sections)."""
    check_choice("section", name, SECTION_MODULES)
    return import_module(f"lib.sections.{name}").SECTION


def section_names() -> list[str]:
    """Every section, in the book's order."""
    return list(SECTION_MODULES)


list_sections = section_names


def section_methods(name: str) -> Registry:
    """The registry of section ``name``'s methods (its ``METHODS``, made by
    :func:`lib.sections.base.method_registry`; empty for a section without)."""
    get_section(name)
    methods = getattr(import_module(f"lib.sections.{name}"), "METHODS", None)
    return Registry(f"{name} method") if methods is None else methods


def list_methods(name: str) -> list[str]:
    """The methods of section ``name``, in registration order."""
    return section_methods(name).names()
