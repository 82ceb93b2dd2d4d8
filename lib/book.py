"""Pages the book generates from the code rather than from hand-typed text:
the dataset catalogue (read from the dataset registry), the class-exclusion
counts (read from the shipped lists), the measured time of every executed
notebook (read from papermill's metadata), the reference cold build
(read from ``benchmarks/results/book_build_quick.json``, written by
``benchmarks/book_build.py``) and the results overview (the claims each
section page glued). Executing the notebooks is :mod:`lib.execution`. A dry
run (:mod:`lib.dry_run`) renders from a staged copy of the sources.

    python -m lib.book book/generated book/executed
    python -m lib.book --stage-dry-run _build/dry_run
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lib.atomic_io import atomic_write_bytes
from lib.claims import overview_figure
from lib.data import dataset_info, dataset_names
from lib.data.class_exclusion import CLASS_LIST_DIR, CLASS_LISTS, _rows
from lib.presets import preset_names
from lib.provenance import DRY_RUN_BANNER
from lib.sweep.plan import build_plan, format_summary
from lib.sweep.throughput import load_tables

REPO = Path(__file__).resolve().parents[1]


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def dataset_table() -> str:
    """A markdown table of every registered dataset (design.md §5)."""
    lines = ["| name | classes | size | channels | source | licence | how to get it |",
             "|---|---|---|---|---|---|---|"]
    for name in dataset_names():
        info = dataset_info(name)
        size = f"{info.image_size}×{info.image_size}" if info.image_size else "option"
        lines.append("| " + " | ".join(_cell(v) for v in (
            f"`{name}`", info.num_classes, size, info.channels or "option", info.source,
            info.licence, info.how_to_get)) + " |")
    return "\n".join(lines) + "\n"


def class_exclusion_table() -> str:
    """Counts of the shipped class-exclusion lists, per CIFAR-10 class where the
    list records one (read from ``lib/data/class_lists``)."""
    from collections import Counter

    lines = ["| list | classes removed | by CIFAR-10 class |", "|---|---:|---|"]
    for name in CLASS_LISTS:
        rows = _rows(CLASS_LIST_DIR / f"{name}.txt")
        per_class = Counter(r[3].strip() for r in rows if len(r) > 3)
        detail = ", ".join(f"{c} {n}" for c, n in sorted(per_class.items())) or "—"
        lines.append(f"| `{name}` | {len(rows)} | {detail} |")
    return "\n".join(lines) + "\n"


def timings_table(executed_dir: Path) -> str:
    """Wall time of each executed notebook, from papermill's metadata."""
    rows = []
    for path in sorted(Path(executed_dir).glob("*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        preset = meta.get("parameters", {}).get("preset", "?")
        duration = meta.get("duration")
        when = (meta.get("end_time") or "")[:16].replace("T", " ")
        if duration is not None:
            rows.append(f"| {path.stem} | {preset} | {duration / 60:.1f} min | {when} UTC |")
    if not rows:
        return "No notebook has been executed in this build.\n"
    return ("| notebook | preset | wall time | finished |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


REFERENCE_BUILD = REPO / "benchmarks/results/book_build_quick.json"


def _minutes(seconds) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def reference_build_table(record_path: Path = REFERENCE_BUILD) -> str:
    """The recorded ``make book`` from a fresh clone with cold caches and its
    second run (``benchmarks/book_build.py``), per stage and per notebook."""
    path = Path(record_path)
    if not path.is_file():
        return f"No reference build is recorded (`{path.name}`); run `python benchmarks/book_build.py`.\n"
    record = json.loads(path.read_text())
    cold, warm = record["cold"], record.get("second_run") or {}
    budget = record.get("budget_s", {})
    lines = [f"`make book PRESET={record['preset']}` at commit `{record['commit']}`, "
             f"{record['date']}, {record['cpu_cores']} CPU cores ({record['machine']}, "
             f"Python {record['python']}):", "",
             "| step | fresh clone, cold caches | second run, nothing changed |",
             "|---|---:|---:|",
             f"| venv, install, data | {_minutes(cold.get('install_and_data_s'))} | "
             f"{_minutes(warm.get('install_and_data_s'))} |"]
    for name, seconds in cold.get("notebooks_s", {}).items():
        lines.append(f"| {name} | {_minutes(seconds)} | "
                     f"{_minutes(warm.get('notebooks_s', {}).get(name))} |")
    lines += [f"| HTML (Jupyter Book) | {_minutes(cold.get('html_s'))} | "
              f"{_minutes(warm.get('html_s'))} |",
              f"| **total** | **{_minutes(cold['wall_s'])}** | **{_minutes(warm.get('wall_s'))}** |"]
    if budget:
        lines.append(f"| budget | {_minutes(budget.get('cold'))} | "
                     f"{_minutes(budget.get('second_run'))} |")
    if record.get("aim_s"):
        lines.append(f"| aim where recorded | {_minutes(record['aim_s'].get('cold'))} | |")
    if cold.get("rc") or warm.get("rc"):
        lines += ["", f"The build failed (exit codes {cold.get('rc')} and {warm.get('rc')})."]
    rates = record.get("engine_images_per_s")
    if rates:
        lines += ["", f"The quick preset trains in float32 on the CPU. This machine's float32 "
                  f"engine trains WRN-16-1 at {rates['float32']:,.0f} images/s (batch 128, "
                  "`benchmarks/train_throughput.py --engines-only`): on a machine whose rate "
                  "is *r* times that, expect the cold build's notebooks to take about 1/*r* "
                  "as long. Run the same command to find your *r*."]
    return "\n".join(lines) + "\n"


SECTION_PAGES = (
    ("Premise: pre-training barely changes clean accuracy", "00_pretraining"),
    ("§3.1 Label corruption", "01_label_corruption"),
    ("§3.2 Class imbalance", "02_class_imbalance"),
    ("§3.3 Adversarial robustness", "03_adversarial"),
    ("§4.1 Out-of-distribution detection", "04_ood_detection"),
    ("§4.2 Calibration", "05_calibration"),
    ("The released models, measured here", "06_released_models"),
)


def glued_markdown(notebook: Path, key: str, mime: str = "text/markdown") -> str | None:
    """What ``notebook`` glued under ``key`` (MyST-NB/scrapbook output
    metadata) as ``mime``, or ``None``."""
    cells = json.loads(Path(notebook).read_text()).get("cells", [])
    for cell in cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == key:
                prefix = scrap.get("mime_prefix", "")
                return output.get("data", {}).get(prefix + mime)
    return None


def glued_claims(executed_dir: Path) -> list[dict]:
    """Every executed section page's claims (the rows it glued as
    ``claims_data``), in the book's order."""
    import ast

    rows = []
    for _, stem in SECTION_PAGES:
        path = Path(executed_dir) / f"{stem}.ipynb"
        text = glued_markdown(path, "claims_data", "text/plain") if path.is_file() else None
        if text is not None:  # glue stores the string's repr
            rows += json.loads(ast.literal_eval("".join(text)))
    return rows


CLAIMS_FIGURE = "claims_overview.png"


def claims_figure(executed_dir: Path, out: Path) -> str:
    """Draw the overview figure (:func:`lib.claims.overview_figure`) of the
    executed pages' claims into ``out``; the Markdown that shows it."""
    rows = glued_claims(executed_dir)
    if not rows:
        return "*No section page has been executed in this build (`make book` executes them).*\n"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import io

    fig, image = overview_figure(rows), io.BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(Path(out) / CLAIMS_FIGURE, image.getvalue())
    presets = sorted({r["preset"] for r in rows})
    return (f"```{{figure}} generated/{CLAIMS_FIGURE}\n:name: claims-overview-figure\n:alt: "
            f"Each claim's difference with its noise band beside the paper's\n\n"
            f"Every claim at a glance ({', '.join(presets)} preset): ours (a dot with its noise "
            "band; green: the paper's direction or similar, red: the opposite, grey: not "
            "resolved) beside the paper's own difference (open markers; for a stand-in target, "
            "each CIFAR's). Right of the line is better for pre-training; each claim has its "
            "own unit and scale.\n```\n")


def claims_overview(executed_dir: Path) -> str:
    """The results overview: each section page's claims table, exactly as the
    page glued it (``Session.claims``: the same :class:`lib.claims.Claim`
    objects judge the page's sentence and this row)."""
    parts = []
    for title, stem in SECTION_PAGES:
        path = Path(executed_dir) / f"{stem}.ipynb"
        table = glued_markdown(path, "claims_overview") if path.is_file() else None
        body = table or (f"*Not in this build: `{path.name}` has not been executed "
                         "(`make book` executes it).*\n")
        parts.append(f"## {title}\n\nFrom {{doc}}`executed/{stem}`.\n\n{body}")
    return "\n".join(parts)


def sweep_plan_tables() -> str:
    """Every preset's sweep (``python -m lib.sweep plan --preset P``): runs,
    epochs, images and estimated device-hours per section (issue 16)."""
    tables = load_tables()
    return "\n\n".join(f"**{name}**\n\n{format_summary(build_plan(name), tables)}"
                         for name in preset_names()) + "\n"


BOOK_SOURCES = ("_config.yml", "_toc.yml", "book/intro.md", "book/reproducing.md",
                "book/results.md", "book/references.md")


def stage_dry_run_book(dest: Path, repo: Path = REPO) -> Path:
    """Copy the book's sources into ``dest`` for a dry-run build (``make book
    DRY_RUN=1``), which renders there and never over the real book; every
    page opens with the dry run's warning under its title (the section pages
    say it in their provenance line, :class:`lib.provenance.Provenance`)."""
    warning = ":::{warning}\n" + DRY_RUN_BANNER.rstrip(" ·") + "\n:::\n"
    for name in BOOK_SOURCES:
        text = (Path(repo) / name).read_text()
        if name.endswith(".md"):
            title, _, rest = text.partition("\n")
            text = f"{title}\n\n{warning}{rest}"
        atomic_write_bytes(Path(dest) / name, text.encode())
    return Path(dest)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--stage-dry-run":
        stage_dry_run_book(Path(argv[1]))
        return 0
    if len(argv) != 2:
        print("usage: python -m lib.book OUTPUT_DIR EXECUTED_DIR\n"
              "       python -m lib.book --stage-dry-run DEST", file=sys.stderr)
        return 2
    out, executed = Path(argv[0]), Path(argv[1])
    atomic_write_bytes(out / "datasets.md", dataset_table().encode())
    atomic_write_bytes(out / "timings.md", timings_table(executed).encode())
    atomic_write_bytes(out / "class_exclusion.md", class_exclusion_table().encode())
    atomic_write_bytes(out / "reference_build.md", reference_build_table().encode())
    atomic_write_bytes(out / "claims_overview.md", claims_overview(executed).encode())
    atomic_write_bytes(out / "claims_figure.md", claims_figure(executed, out).encode())
    atomic_write_bytes(out / "sweep_plan.md", sweep_plan_tables().encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
