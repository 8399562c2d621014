"""`gpen-export`: write the EMA generator of a training checkpoint as the file inference and priors read.

    gpen-export outputs/train/<run>/checkpoints/step0005000.ckpt -o generator_step5000.pth

Training already exports `<run>/checkpoints/generator_ema.pth` when it ends; this writes the same file
for any saved step (e.g. to compare steps, or to use a prior while its training goes on). For a prior
run (experiment=stylegan2_prior) the file is the StyleGAN2 alone in the released prior layout
(`params_ema`), which `pretrained.stylegan2_prior=<file>` reads. An existing output is replaced only
with --overwrite; the checkpoint is only read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpen.lit.checkpointing import atomic_torch_save
from gpen.models.loading import UnreadableCheckpointError, read_checkpoint

EMA_PREFIX = "generator_ema."


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


def export_checkpoint(checkpoint_path: Path, output: Path) -> int:
    """Write {"params_ema", "gpen_generator", "step"} from `checkpoint_path`; return the step."""
    checkpoint = read_checkpoint(checkpoint_path)
    step = int(checkpoint.get("global_step", 0))
    atomic_torch_save({"params_ema": ema_state(checkpoint, checkpoint_path),
                       "gpen_generator": checkpoint.get("gpen_generator", {}), "step": step}, output)
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpen-export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (<run>/checkpoints/*.ckpt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the file to write (.pth)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.overwrite:
        print(f"gpen-export: {args.output} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    try:
        step = export_checkpoint(args.checkpoint, args.output)
    except (UnreadableCheckpointError, FileNotFoundError) as error:
        print(f"gpen-export: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {args.output} (EMA generator at step {step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
