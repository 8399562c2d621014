"""`gpen-export`: write the EMA generator of a training checkpoint as the file inference and priors read.

    gpen-export outputs/train/<run>/checkpoints/step0005000.ckpt -o generator_step5000.pth

Training already exports `<run>/checkpoints/generator_ema.pth` when it ends; this writes the same file
for any saved step (e.g. to compare steps, or to use a prior while its training goes on). For a prior
run (experiment=stylegan2_prior) the file is the StyleGAN2 alone in the released prior layout
(`params_ema`), which `pretrained.stylegan2_prior=<file>` reads; `--discriminator FILE` also writes the
run's global discriminator (`params`), which `pretrained.discriminator=<file>` (or the top-level
`prior_discriminator_file`) reads to start a restoration run's discriminator from it. An existing output
is replaced only with --overwrite; the checkpoint is only read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpen.lit.checkpointing import atomic_torch_save
from gpen.models.loading import UnreadableCheckpointError, read_checkpoint

EMA_PREFIX = "generator_ema."
DISCRIMINATOR_PREFIX = "losses.gan.discriminator."


def ema_state(checkpoint: dict, path: Path) -> dict:
    """The EMA generator's weights in a Lightning checkpoint, without the module prefixes."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict) or not any(k.startswith(EMA_PREFIX) for k in state):
        raise UnreadableCheckpointError(f"{path} is not a gpen training checkpoint (no `{EMA_PREFIX}*` weights); "
                                        "pass a .ckpt from <run>/checkpoints/")
    weights = {k[len(EMA_PREFIX):]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}
    if any(k.startswith("decoder.") for k in weights):  # a prior run: export the StyleGAN2 alone
        weights = {k[len("decoder."):]: v for k, v in weights.items() if k.startswith("decoder.")}
    return weights


def discriminator_state(checkpoint: dict, path: Path) -> dict:
    """The global (StyleGAN2) discriminator's weights in a Lightning checkpoint, without the prefix."""
    state = checkpoint.get("state_dict") or {}
    weights = {k[len(DISCRIMINATOR_PREFIX):]: v for k, v in state.items() if k.startswith(DISCRIMINATOR_PREFIX)}
    if not weights:
        raise UnreadableCheckpointError(f"{path} holds no global discriminator (`{DISCRIMINATOR_PREFIX}*`): "
                                        "its run had no `gan` loss term")
    return weights


def export_checkpoint(checkpoint_path: Path, output: Path, discriminator: Path | None = None) -> int:
    """Write {"params_ema", "gpen_generator", "step"} from `checkpoint_path` (and {"params", "step"} of
    the global discriminator to `discriminator`); return the step."""
    checkpoint = read_checkpoint(checkpoint_path)
    step = int(checkpoint.get("global_step", 0))
    weights_d = discriminator_state(checkpoint, checkpoint_path) if discriminator is not None else None
    atomic_torch_save({"params_ema": ema_state(checkpoint, checkpoint_path),
                       "gpen_generator": checkpoint.get("gpen_generator", {}), "step": step}, output)
    if weights_d is not None:
        atomic_torch_save({"params": weights_d, "step": step}, discriminator)
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpen-export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (<run>/checkpoints/*.ckpt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the file to write (.pth)")
    parser.add_argument("--discriminator", type=Path, default=None,
                        help="also write the global discriminator to this file (.pth)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    for output in (args.output, args.discriminator):
        if output is not None and output.exists() and not args.overwrite:
            print(f"gpen-export: {output} exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
    if args.discriminator is not None and args.discriminator.resolve() == args.output.resolve():
        print("gpen-export: --discriminator must be another file than --output", file=sys.stderr)
        return 2
    try:
        step = export_checkpoint(args.checkpoint, args.output, args.discriminator)
    except (UnreadableCheckpointError, FileNotFoundError) as error:
        print(f"gpen-export: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {args.output} (EMA generator at step {step})")
    if args.discriminator is not None:
        print(f"Wrote {args.discriminator} (global discriminator at step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
