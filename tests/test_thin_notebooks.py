"""Notebooks orchestrate only (issue: one section protocol): a parameters
cell, one call per step, the prose. No loops, branches, comprehensions,
function or class definitions, no training or metric calls (the only import
is ``lib.notebook``, and every call goes through ``notebook`` or the
session), and at most 60 code lines."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CODE_LINES = 60
FORBIDDEN = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.IfExp, ast.ListComp, ast.SetComp,
             ast.DictComp, ast.GeneratorExp, ast.FunctionDef, ast.AsyncFunctionDef,
             ast.ClassDef, ast.Lambda, ast.Try, ast.With)
CALL_ROOTS = {"notebook", "session"}  # every call goes through these
PLAIN_CALLS = {"print", "display"}
PARAMETERS = {"preset", "data_root", "device", "dry_run", "source", "source_world_size",
              "cpu_precision"}


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def source(cell) -> str:
    return "".join(cell["source"])


def code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def call_root(func) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def violations(text: str) -> list[str]:
    """Why ``text`` (one code cell) is not orchestration, or []."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, FORBIDDEN):
            found.append(f"{type(node).__name__} at line {node.lineno}")
        elif isinstance(node, ast.Import):
            found.append(f"import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.ImportFrom) and not (
                node.module == "lib" and [a.name for a in node.names] == ["notebook"]):
            found.append(f"from {node.module} import …")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in PLAIN_CALLS:
                continue
            if isinstance(func, ast.Name) or call_root(func) not in CALL_ROOTS:
                found.append(f"call {ast.unparse(func)}() at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_only_orchestrates(path):
    cells = code_cells(path)
    assert "parameters" in cells[0].get("metadata", {}).get("tags", []), \
        "the first code cell must be the papermill parameters cell"
    parameters = ast.parse(source(cells[0]))
    assert all(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
               for n in parameters.body), "the parameters cell only assigns constants"
    assert {t.id for n in parameters.body for t in n.targets} == PARAMETERS
    problems = {i: v for i, cell in enumerate(cells[1:], 1) if (v := violations(source(cell)))}
    assert not problems, f"{path.name}: code cells that are not orchestration: {problems}"
    lines = sum(code_lines(source(c)) for c in cells)
    assert lines <= MAX_CODE_LINES, f"{path.name}: {lines} code lines (at most {MAX_CODE_LINES})"


@pytest.mark.parametrize("text, reason", [
    ("for x in y:\n    print(x)", "For"),
    ("def f():\n    pass", "FunctionDef"),
    ("[r for r in rows]", "ListComp"),
    ("from lib.training import train_or_load", "from lib.training"),
    ("import numpy as np", "import numpy"),
    ("session.preset.train_size.bit_length()", None),
    ("train_or_load(config)", "call train_or_load"),
    ("rows.groupby('arm').value.mean()", "call rows.groupby"),
])
def test_the_checker_catches_logic(text, reason):
    found = violations(text)
    if reason is None:
        assert found == []
    else:
        assert any(reason in v for v in found), found
