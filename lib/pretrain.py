"""``make pretrain``: (re)train a preset's source model and ship it.

    python -m lib.pretrain --preset quick
    torchrun --nproc-per-node=N -m lib.pretrain --preset paper   # data-parallel (issue 16)

Data-parallel, the run's world size is N (it enters the key): fine-tunes find
it with ``SOURCE_WORLD_SIZE=N`` (``make book``, ``python -m lib.sweep``, the
notebooks' ``source_world_size`` parameter).

trains the preset's pre-training run from scratch (ignoring any cache), then
copies the verified checkpoint into ``lib/checkpoints/<key>.pt`` with a
manifest holding its sha256 and provenance: the command, commit, hardware,
date and wall time. ``train_or_load`` uses the shipped copy when the run cache
lacks the run, after checking its hash; a damaged shipped copy fails and names
this command (issue 15, item 5), which retrains it (``force``) and re-ships it.
"""

from __future__ import annotations

import argparse
import sys

from lib.devices import describe_device, resolve_device
from lib.experiments import source_run
from lib.presets import get_run_preset, preset_names
from lib.sections.adversarial import adversarial_source_run
from lib.training.checkpoints import CorruptCheckpointError, read_manifest, save_verified_bytes
from lib.training import distributed
from lib.training.run_cache import SHIPPED_DIR, train_or_load


def ship(run, command: str) -> None:
    """Copy ``run``'s checkpoint into the package with its provenance:
    ``command`` regenerates it; ``shipped_by`` is the invocation that shipped it
    (with ``--reuse-cache`` the model came from the run cache, trained earlier by
    ``train_or_load`` for this exact configuration)."""
    target = SHIPPED_DIR / f"{run.key}.pt"
    data = run.path.read_bytes()
    manifest = {k: v for k, v in read_manifest(run.path).items()
                if k not in ("sha256", "key", "bytes", "previous")}
    manifest.update({"command": command,
                     "shipped_by": "python -m lib.pretrain " + " ".join(sys.argv[1:]),
                     "from_cache": run.from_cache, "wall_time_s": round(run.wall_time_s, 1),
                     "label": run.config.label, "config": run.config.to_dict(),
                     "final_source_test_error": run.history[-1].get("test_error")})
    digest = save_verified_bytes(target, data, run.key, extra=manifest)
    if digest != run.digest:
        raise CorruptCheckpointError(f"{run.path} changed while it was shipped "
                                     f"(sha256 {digest[:12]}…, loaded {run.digest[:12]}…)")
    print(f"shipped {target} (sha256 {digest[:12]}…)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=preset_names())
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-ship", action="store_true", help="train only; do not ship")
    parser.add_argument("--reuse-cache", action="store_true",
                        help="ship the run cache's model for this exact configuration if it "
                             "has one, instead of retraining")
    parser.add_argument("--adversarial", action="store_true",
                        help="the adversarial source of section 3.3 instead of the clean one")
    args = parser.parse_args(argv)
    device = resolve_device(distributed.init_from_env(args.device))  # torchrun: one rank
    world = distributed.context()[1]
    preset = get_run_preset(args.preset, source_world_size=world)
    if args.adversarial:
        config, command = adversarial_source_run(preset), f"make pretrain-adversarial PRESET={preset.name}"
    else:
        config, command = source_run(preset), f"make pretrain PRESET={preset.name}"
    if distributed.is_writer():
        print(f"pre-training {config.label or config.key()} on {describe_device(device)}"
              + (f", data-parallel over {world} processes (run {config.key()}; fine-tunes "
                 f"find it with SOURCE_WORLD_SIZE={world})" if world > 1 else ""))
    run = train_or_load(config, root=args.data_root, device=device, force=not args.reuse_cache)
    if not args.no_ship and distributed.is_writer():
        ship(run, command)
    distributed.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
