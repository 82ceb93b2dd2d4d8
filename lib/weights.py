"""The authors' released networks: what was published, and their import into
the run cache (issue 15, items 3 and 6)::

    python -m lib.weights list
    python -m lib.weights import FILE --as NAME [--trust] [--runs-dir DIR]
    python -m lib.weights fixture NAME FILE [--seed N]

``import`` checks the file's hash, converts it with
:func:`lib.models.official.official_wrn_from_state_dict` (wrong architecture
or class count, truncated or non-checkpoint files fail there, naming the file)
and stores it as the run :func:`released_run` ``(NAME)`` of the run cache
(``<runs dir>/<key>/model.pt`` and its manifest, :func:`save_verified`), so
``train_or_load`` returns it like any trained run. With ``SOURCE=official``,
:func:`source_for` puts the released source models in place of the paper
preset's pre-training runs: every section then fine-tunes from them.

Verification: the official repository's files are checked against their git
blob SHA-1 at commit 10cd02a (sha1 of ``b"blob <size>\\0"`` + content, what
``git ls-tree`` prints). Files published without a hash (the adversarially
pre-trained WRN-28-10 on Google Drive, RobustBench's ``Hendrycks2019Using``)
need ``--trust`` at their first import, which records their sha256 in the
run's manifest; later imports under that name are checked against it. A
file whose hash is unknown or different is refused unless ``--trust`` is
given, and the manifest then says ``"trusted": true``.

The catalogue of releases and the run each one is live in :mod:`lib.releases`
(re-exported here).

``fixture`` writes a randomly initialised network of a release's architecture
in the official layout (:func:`write_fixture`): fixture weights for the paper
preset's dry run, imported with ``--trust``; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import torch

from lib.atomic_io import atomic_write_bytes, atomic_write_json
from lib.models import build_model
from lib.models.official import (
    official_state_dict,
    official_wrn_from_state_dict,
    read_state_dict,
)
from lib.provenance import git_commit, utc_now
from lib.releases import (  # noqa: F401  (the catalogue, re-exported)
    _RELEASES,
    ADVERSARIAL_DRIVE,
    OFFICIAL_COMMIT,
    OFFICIAL_REPO,
    RELEASES,
    ROBUSTBENCH,
    SOURCES,
    Release,
    get_release,
    list_releases,
    release_names,
    released_counterpart,
    released_run,
    source_for,
)
from lib.training.checkpoints import CorruptCheckpointError, read_manifest, save_verified
from lib.training.run_cache import default_runs_dir, train_or_load


class UnverifiedFileError(ValueError):
    """A file whose hash is unknown or differs from the published one (pass ``--trust``)."""



def run_dir(name: str, runs_dir=None) -> Path:
    return Path(runs_dir or default_runs_dir()) / released_run(name).key()


def missing_message(name: str, runs_dir=None) -> str:
    """What to do when the released ``name`` is not imported in ``runs_dir``."""
    r = get_release(name)
    return (f"the released model {name!r} ({r.what}) is not imported: no "
            f"{run_dir(name, runs_dir) / 'model.pt'}. Download {r.path} from {r.where}, then "
            f"run: python -m lib.weights import FILE --as {name}")


def missing_imports(configs, runs_dir=None) -> list[str]:
    """:func:`missing_message` for every released run among ``configs`` (and
    their ``init`` ancestors) that ``runs_dir`` lacks, each once."""
    out, seen = [], set()
    for config in configs:
        while config is not None:
            if getattr(config, "released", "") and config.released not in seen:
                seen.add(config.released)
                if not (run_dir(config.released, runs_dir) / "model.pt").is_file():
                    out.append(missing_message(config.released, runs_dir))
            config = getattr(config, "init", None)
    return out


def imported_run(name: str, runs_dir=None, device="cpu"):
    """The imported released model ``name`` as a
    :class:`~lib.training.run_cache.TrainedRun`; when it is not imported,
    ``FileNotFoundError`` says where to get it and how to import it."""
    if missing_imports([released_run(name)], runs_dir):
        raise FileNotFoundError(missing_message(name, runs_dir))
    return train_or_load(released_run(name), runs_dir=runs_dir, device=device, verbose=False)


# -- import -------------------------------------------------------------------------------

def file_hashes(path) -> dict:
    """``git_blob_sha1`` (what ``git ls-tree`` prints for the file) and ``sha256``."""
    path = Path(path)
    blob, sha256 = hashlib.sha1(b"blob %d\0" % path.stat().st_size), hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            blob.update(chunk)
            sha256.update(chunk)
    return {"git_blob_sha1": blob.hexdigest(), "sha256": sha256.hexdigest()}


def _recorded_sha256(name: str, runs_dir) -> str:
    """The sha256 recorded by an earlier import of ``name`` (empty: none)."""
    try:
        return str(read_manifest(run_dir(name, runs_dir) / "model.pt").get("file_sha256", ""))
    except CorruptCheckpointError:
        return ""


def verify(path, name: str, trust: bool = False, runs_dir=None) -> dict:
    """Check the file at ``path`` against what is known of the release
    ``name``; returns its hashes and how it was verified (``verified_by``:
    ``"git_blob_sha1"``, ``"recorded_sha256"`` or ``"trust"``). An unknown or
    different hash raises :class:`UnverifiedFileError` unless ``trust``."""
    r = get_release(name)
    hashes = file_hashes(path)
    if r.git_blob_sha1:
        known, found, kind = r.git_blob_sha1, hashes["git_blob_sha1"], "git blob SHA-1"
        where = f"the official repository at {OFFICIAL_COMMIT} ({r.path})"
        by = "git_blob_sha1"
    else:
        known, found, kind = _recorded_sha256(name, runs_dir), hashes["sha256"], "sha256"
        where = "its first import here (recorded in the run's manifest)"
        by = "recorded_sha256"
    if known and found == known:
        return {**hashes, "verified_by": by, "trusted": False}
    if not trust:
        if known:
            problem = (f"{path} has {kind} {found}, but {name!r} has {known} in {where}: a "
                       "different or damaged file")
        else:
            problem = (f"{path} (sha256 {found}): {name!r} was published without a hash and "
                       "has not been imported here before, so the file cannot be verified")
        raise UnverifiedFileError(
            f"{problem}. Download it again from {r.where} ({r.path}), or pass --trust to "
            "import it anyway (the manifest records that it was trusted)")
    return {**hashes, "verified_by": "trust", "trusted": True}


def import_release(path, name: str, trust: bool = False, runs_dir=None):
    """Verify (:func:`verify`), convert and store the released file ``path``
    as the run :func:`released_run` ``(name)``; returns the loaded
    :class:`~lib.training.run_cache.TrainedRun` (read back through
    ``train_or_load``, as every section will)."""
    r = get_release(name)
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}; {name!r} is published at {r.where} "
                                f"({r.path})")
    checked = verify(path, name, trust, runs_dir)
    depth, width = r.depth_width
    model = official_wrn_from_state_dict(read_state_dict(path), depth, width, r.num_classes,
                                         source=str(path))
    config = released_run(name)
    key, folder = config.key(), run_dir(name, runs_dir)
    info = {"released": name, "imported_from": str(path), "published_at": r.where,
            "published_path": r.path, "file_git_blob_sha1": checked["git_blob_sha1"],
            "file_sha256": checked["sha256"], "verified_by": checked["verified_by"],
            "trusted": checked["trusted"], "normalization": model.normalization.to_dict(),
            "commit": git_commit(), "date": utc_now(), "label": config.label}
    payload = {"model": {k: v.cpu() for k, v in model.state_dict().items()},
               "num_classes": model.num_classes, "history": [], "wall_time_s": 0.0,
               "info": info}
    save_verified(folder / "model.pt", payload, key, extra=info)
    atomic_write_json(folder / "config.json", {"key": key, "label": config.label,
                                               "config": config.to_dict()})
    return train_or_load(config, runs_dir=runs_dir, device="cpu", verbose=False)


def write_fixture(name: str, path, seed: int = 0) -> Path:
    """A randomly initialised (``seed``) network of release ``name``'s
    architecture and class count (1,000 where the file decides), saved in the
    official layout to ``path`` (atomically); returns the path."""
    r = get_release(name)
    torch.manual_seed(seed)
    model = build_model(r.architecture, r.num_classes or 1000, 3)
    buffer = io.BytesIO()
    torch.save(official_state_dict(model), buffer)
    path = Path(path).expanduser()
    atomic_write_bytes(path, buffer.getvalue())
    return path


def import_dry_run_fixtures(runs_dir=None) -> list[str]:
    """For the paper preset's dry run (``make book DRY_RUN=1``, :mod:`lib.dry_run`):
    random weights of every release (seeds 0, 1, …: no two alike), imported
    with trust into ``runs_dir`` (default: the dry run's, ``<run cache>/dry_run``);
    a release already imported there is kept, so its evaluations stay memoized.
    Returns the names imported now."""
    import tempfile

    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir() / "dry_run"
    done = []
    with tempfile.TemporaryDirectory() as folder:
        for seed, r in enumerate(_RELEASES):
            if not missing_imports([released_run(r.name)], runs_dir):
                continue
            path = write_fixture(r.name, Path(folder) / f"{r.name}.pt", seed)
            import_release(path, r.name, trust=True, runs_dir=runs_dir)
            done.append(r.name)
    return done


# -- command line -------------------------------------------------------------------------

def _list(runs_dir) -> None:
    for r in _RELEASES:
        state = "imported" if not missing_imports([released_run(r.name)], runs_dir) else "-"
        print(f"{r.name:42s} {state:9s} {r.what}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.weights",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the released files and whether they are imported")
    listing.add_argument("--runs-dir", default=None)
    imp = commands.add_parser("import", help="verify a released file and store it as a run")
    imp.add_argument("file")
    imp.add_argument("--as", dest="name", required=True, metavar="NAME",
                     help="one of: " + ", ".join(RELEASES))
    imp.add_argument("--trust", action="store_true",
                     help="import a file whose hash is unknown or different (recorded)")
    imp.add_argument("--runs-dir", default=None, help="the run cache (default: $RUNS_DIR or runs/)")
    fixture = commands.add_parser("fixture", help="write random weights of a release's "
                                                  "architecture in the official layout")
    fixture.add_argument("name", metavar="NAME", help="one of: " + ", ".join(RELEASES))
    fixture.add_argument("file")
    fixture.add_argument("--seed", type=int, default=0)
    fixtures = commands.add_parser("dry-run-fixtures", help="random weights of every release, "
                                   "imported for the paper preset's dry run")
    fixtures.add_argument("--runs-dir", default=None,
                          help="the dry run's run cache (default: $RUNS_DIR/dry_run or runs/dry_run)")
    args = parser.parse_args(argv)
    if args.command == "list":
        _list(args.runs_dir)
        return 0
    try:
        if args.command == "fixture":
            written = write_fixture(args.name, args.file, args.seed)
            print(f"wrote fixture weights for {args.name}: {written}")
            return 0
        if args.command == "dry-run-fixtures":
            done = import_dry_run_fixtures(args.runs_dir)
            print(f"dry run: random fixture weights imported for {len(done)} release(s)"
                  + (f" ({', '.join(done)})" if done else " (all were there)"))
            return 0
        run = import_release(args.file, args.name, args.trust, args.runs_dir)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trusted = " (trusted, not verified)" if run.info.get("trusted") else ""
    print(f"imported {args.file} as {args.name}{trusted}: run {run.key} at {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
