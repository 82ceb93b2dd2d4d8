"""The layers of ``lib`` (design.md §3; issue 24, item 1): base, building
blocks, engine and methods, experiment, sections, drivers; a module imports
only from its own layer or a lower one, and nothing in ``lib`` imports in a
cycle. The contracts are import-linter's (``[tool.importlinter]`` in
pyproject.toml, also run by ``lint-imports``); grimp reads every import,
function-local ones included, so a local import cannot hide a cycle."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[1]


def _lint(config: Path, monkeypatch, capsys, path: Path = REPO) -> tuple[int, str]:
    monkeypatch.chdir(path)  # lint-imports finds the root package from the working directory
    monkeypatch.syspath_prepend(str(path))
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    return code, capsys.readouterr().out


def test_lib_imports_one_way_without_cycles(monkeypatch, capsys):
    code, out = _lint(REPO / "pyproject.toml", monkeypatch, capsys)
    assert code == 0, out
    assert "2 kept, 0 broken" in out, out


def test_every_module_of_lib_is_in_a_layer():
    """The layers contract is exhaustive: a new top-level module of ``lib``
    must be given a layer (else lint-imports fails); this names it early."""
    import tomllib

    contract = next(c for c in tomllib.loads((REPO / "pyproject.toml").read_text())
                    ["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    assert contract["exhaustive"] is True
    layered = {m.strip() for layer in contract["layers"] for m in layer.split(":")}
    modules = {p.stem if p.is_file() else p.name for p in (REPO / "lib").iterdir()
               if (p.suffix == ".py" and p.stem != "__init__")
               or (p.is_dir() and (p / "__init__.py").exists())}
    assert modules == layered, (modules - layered, layered - modules)


@pytest.mark.parametrize("broken", ["upward", "cycle"])
def test_the_contracts_fail_on_an_upward_import_and_on_a_cycle(tmp_path, monkeypatch, capsys,
                                                               broken):
    """The same two contracts on a toy package: each breaks as it should,
    even when the import that breaks it is function-local."""
    package = tmp_path / "toy_layers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from toy_layers import low\n")
    (package / "low.py").write_text("from toy_layers import base\n")
    (package / "base.py").write_text(textwrap.dedent(f"""
        def f():
            from toy_layers import {"high" if broken == "upward" else "low"}
    """))
    if broken == "cycle":  # a cycle inside one layer: only the acyclic contract sees it
        (package / "low.py").write_text("from toy_layers import base\n")
        (package / "high.py").write_text("")
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "toy_layers"
        [[tool.importlinter.contracts]]
        id = "layers"
        name = "layers"
        type = "layers"
        containers = ["toy_layers"]
        layers = ["high", "low : base"]
        [[tool.importlinter.contracts]]
        id = "acyclic"
        name = "acyclic"
        type = "acyclic_siblings"
        ancestors = ["toy_layers"]
    """))
    code, out = _lint(config, monkeypatch, capsys, tmp_path)
    assert code != 0, out
    if broken == "upward":
        assert "toy_layers.low is not allowed to import toy_layers.high" in out \
            or "toy_layers.base" in out, out
    else:
        assert "1 kept, 1 broken" in out and "No cycles are allowed in toy_layers" in out, out


def test_no_function_local_import_of_lib():
    """Every import of a ``lib`` module is at the top of its module, where the
    layers are read: a function-local import is only for a heavy optional
    dependency (torchattacks, IPython, matplotlib), never a way around a layer."""
    found = set()
    for path in sorted((REPO / "lib").rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                found |= {(str(path.relative_to(REPO)), n) for n in names
                          if n == "lib" or n.startswith("lib.")}
    assert not found, sorted(found)
