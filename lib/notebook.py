"""What a section notebook calls, one call per step (design.md §3): validate
the papermill parameters, run the section, draw its tables and figures from
the rows that this execution produced, state its claims, offer the rows as a
download, and publish the provenance line that opens the page.

    session = notebook.start("label_noise", preset, data_root, device)
    rows = session.run()
    session.table("table1")
    session.figure("figure2")
    session.claims()
    session.download()
    notebook.publish_provenance(session)
"""

from __future__ import annotations

import base64
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.claims import claims_json, overview_table
from lib.devices import describe_device, resolve_device
from lib.evaluation.memo import MemoNotWrittenWarning
from lib.paths import default_runs_dir
from lib.preflight import preflight
from lib.presets import get_run_preset
from lib.provenance import Provenance
from lib.recorded import (  # noqa: F401  (named here too)
    BENCHMARK_RESULTS,
    recorded_section_recipes,
    recorded_selection,
)
from lib.results import default_results_dir, new_build_id, record_results, tidy
from lib.run_context import RunContext
from lib.sections import get_section
from lib.sections.base import is_config
from lib.training.precision import cpu_bf16_notice
from lib.training.run_cache import DiscardedCheckpointWarning
from lib.validation import check_type
from lib.weights import missing_imports


def _precision_text(preset, device) -> str:
    """How ``preset``'s runs train numerically (book/reproducing.md, Devices);
    the opt-in CPU bf16 says, once, whether it is native here and how fast."""
    if preset.cpu_autocast:
        text = ("bf16 autocast for the target runs, on the CPU too (cpu_precision='bf16'); "
                "the sources float32 on the CPU; weights and evaluation float32")
        notice = cpu_bf16_notice(device, True)
        return text + (f"\n               {notice}" if notice else "")
    return "bf16 autocast on CUDA, float32 on the CPU; weights and evaluation float32"


@dataclass
class Session(RunContext):
    """A notebook's validated parameters and its section, run through
    :class:`~lib.run_context.RunContext` (which trains and counts the runs);
    the rows of this execution (``build``) and its provenance clock."""

    provenance: Provenance
    build: str
    results_dir: Path | None = None
    _rows: pd.DataFrame | None = field(default=None, repr=False)
    _claims: list | None = field(default=None, repr=False)

    @property
    def _counts(self) -> dict:
        """The runs trained and taken from the cache (:attr:`RunContext.counts`)."""
        return self.counts

    # -- the notebook's steps ---------------------------------------------------------------
    def describe(self) -> str:
        """The preset and the section's settings (deterministic: compared by nbval)."""
        p = self.preset
        lines = [f"section      : {self.section.name} ({self.section.paper})",
                 f"preset       : {p.name} ({p.description})",
                 f"architecture : {p.architecture}, {p.in_channels} input channel(s)",
                 f"source       : {p.source.name} {dict(p.source.options)}",
                 f"training     : {_precision_text(p, self.device)}",
                 "", "settings:", self.settings.describe()]
        return "\n".join(lines)

    def run(self) -> pd.DataFrame:
        """Train or load every run of the section, evaluate, record the rows in
        the store and return them: the only rows this page shows. Prints one
        summary line (runs trained, from the cache, time); a warning raised
        on the way is summarised in words, without paths."""
        began = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = tidy(self.section.run(self))
        rows["build"] = self.build
        rows["preset"] = self.preset.name
        rows["device"] = self.provenance.device
        rows["commit"] = self.provenance.commit
        self._rows = record_results(rows, self.preset.name, self.results_dir)
        self._claims = None
        minutes, seconds = divmod(time.perf_counter() - began, 60)
        print(f"{self.section.title}: {self.counts['trained']} run(s) trained, "
              f"{self.counts['cached']} taken from the run cache, {len(self._rows)} result "
              f"rows, {int(minutes)} min {seconds:.0f} s")
        for text in _summarise(caught):
            print(text)
        return self._rows

    @property
    def results(self) -> pd.DataFrame:
        if self._rows is None:
            raise RuntimeError("call session.run() before drawing tables, figures or claims")
        return self._rows

    def table(self, name: str):
        """The section's table ``name`` drawn from this execution's rows (a
        string is shown as Markdown)."""
        out = self.section.table(name, self.results, self.preset)
        return _markdown(out) if isinstance(out, str) else out

    def figure(self, name: str) -> None:
        """The section's figure ``name`` drawn from this execution's rows."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        fig = self.section.figure(name, self.results, self.preset, data_root=self.data_root)
        display(fig)
        plt.close(fig)

    def judged(self) -> list:
        """The section's claims (one per claim × dataset) on this execution's rows."""
        if self._claims is None:
            self._claims = self.section.judge(self.results, self.preset)
        return self._claims

    def claims(self):
        """State every claim on the page and glue the same objects' overview
        rows (``claims_overview``) and values (``claims_data``, JSON: the
        overview's figure) for the results page."""
        from IPython.display import Markdown
        from myst_nb import glue


        claims = self.judged()
        glue("claims_overview", Markdown(overview_table(claims)), display=False)
        glue("claims_data", claims_json(claims), display=False)
        return _markdown("\n\n".join(f"- {c.statement}: {c.sentence()}" for c in claims)
                         or "This section states no claim at this preset.")

    def download(self):
        """A link that downloads this execution's rows as CSV."""
        from IPython.display import HTML

        data = base64.b64encode(self.results.to_csv(index=False).encode()).decode()
        name = f"{self.section.name}_{self.preset.name}_rows.csv"
        return HTML(f'<a download="{name}" href="data:text/csv;base64,{data}">Download this '
                    f'page\'s {len(self.results)} result rows ({name})</a>')


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def _summarise(caught) -> list[str]:
    """Warnings in words: what happened, without this machine's paths."""
    in_words = {
        DiscardedCheckpointWarning:
            "an unusable cached checkpoint (truncated, altered or foreign) was retrained",
        MemoNotWrittenWarning:
            "an evaluation could not be cached (read-only run cache) and was computed"}
    counts: dict[str, int] = {}
    for w in caught:
        kind = in_words.get(w.category) or \
            f"{w.category.__name__}: {str(w.message).split(chr(10))[0][:120]}"
        counts[kind] = counts.get(kind, 0) + 1
    return [f"note: {text} ({n}×)" for text, n in counts.items()]


def start(section: str, preset, data_root=None, device="auto", dry_run=False,
          source="trained", source_world_size=1, cpu_precision="float32") -> Session:
    """Validate a notebook's parameters (a wrong name or type fails at once,
    naming the valid choices), check that every dataset the preset reads from
    the data root is there (:func:`lib.preflight.preflight`: at the paper
    preset one error names every missing dataset, before anything trains; the
    smoke and quick presets read nothing from it) and start the provenance
    clock. An empty ``data_root`` is the default root, never the current
    directory. ``dry_run`` shrinks the preset to seconds (:mod:`lib.dry_run`);
    its runs and rows go to a ``dry_run`` folder of the run cache and of the
    result store, never beside real ones. ``source="official"`` (paper preset)
    fine-tunes the paper's released networks instead of pre-training
    (:mod:`lib.weights`); one that is not imported fails here, saying where to
    get it and how to import it. ``source_world_size`` N > 1: the sources were
    pre-trained data-parallel over N processes (``torchrun -m lib.pretrain``),
    which their run keys record. ``cpu_precision="bf16"`` trains the target runs
    under bf16 autocast on the CPU (an opt-in, fast only with native bf16:
    :func:`lib.training.precision.cpu_bf16_notice`; float32 by default)."""
    check_type("preset", preset, str)
    check_type("data_root", data_root, (str, Path), allow_none=True)
    check_type("device", device, str)
    check_type("dry_run", dry_run, bool)
    check_type("source", source, str)
    check_type("source_world_size", source_world_size, int)
    check_type("cpu_precision", cpu_precision, str)
    spec = get_run_preset(preset, dry_run, source, source_world_size, cpu_precision)
    chosen = get_section(section)
    resolved = resolve_device(device)
    root = Path(data_root).expanduser() if data_root not in (None, "") else None
    preflight(spec, root)
    folders = ({"runs_dir": default_runs_dir() / "dry_run",
                "results_dir": default_results_dir() / "dry_run"} if dry_run else {})
    if source != "trained":
        _check_imported(chosen, spec, folders.get("runs_dir"))
    return Session(chosen, spec, resolved, root,
                   Provenance(preset=spec.label, device=describe_device(resolved),
                              dry_run=dry_run),
                   new_build_id(), **folders)


def _check_imported(section, preset, runs_dir) -> None:
    """Every released network the section fine-tunes is imported, else one
    error naming each missing file, where it is published and the import command."""
    missing = missing_imports(filter(is_config, section.planned(preset)), runs_dir)
    if missing:
        raise FileNotFoundError("\n".join(missing))


def publish_provenance(session: Session) -> str:
    """Glue the provenance line (``{glue:md}`provenance``` opens each page) and return it."""
    from IPython.display import Markdown
    from myst_nb import glue

    text = session.provenance.summary()
    glue("provenance", Markdown(text), display=False)
    return text
