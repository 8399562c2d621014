"""Start-up loading of pretrained networks for training (experiments/pretrained_models/README.md).

`pretrained.generator` (fine-tune from an official or own GFP-GAN checkpoint), `pretrained.stylegan2_prior`
(the StyleGAN2 face prior), `pretrained.vgg19` (perceptual loss) and `pretrained.arcface` (identity loss)
are each a file name (looked up in experiments/pretrained_models/) or a path, or null for a random
initialisation. A configured file that is missing stops the run before training with one
`MissingWeightsError` naming the file and the key. Files are loaded only for the terms that exist (a
term with weight 0 is never built, so its file is never needed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gpen.lit.module import GANModule
from gpen.losses.identity import IdentityLoss
from gpen.losses.perceptual import PerceptualLoss
from gpen.models import loading
from gpen.utils.pretrained import MissingWeightsError, resolve_weights


def _terms(module: GANModule, kind: type) -> list:
    return [t for t in module.losses.values() if isinstance(t, kind)]


def load_generator_weights(module: GANModule, path: str) -> None:
    """Fine-tuning: load a whole generator checkpoint (EMA weights preferred) into `module.generator`;
    a file of another architecture or shape names what it holds and the model config that fits."""
    file = resolve_weights(path, what="generator to fine-tune (GFP-GAN or GPEN)", config_key="pretrained.generator",
                           disable_hint="pretrained.generator=null")
    state, spec = loading.generator_state_and_spec(loading.read_checkpoint(file), file)
    try:
        arch, inferred = loading.infer_generator_spec(state, file)
        arch = (spec or {}).get("arch", arch)
        hint = f"The file holds {loading.describe_generator(arch, inferred)}: use that model config and settings."
    except loading.CheckpointMismatchError as error:
        hint = str(error)
    loading.load_strict(module.generator, state, file, hint=hint)


def load_pretrained(module: GANModule, cfg: Mapping[str, str | None]) -> list[str]:
    """Load every configured file; return one note per network that stays randomly initialised.

    Every missing file is reported at once, in one `MissingWeightsError`, before anything is trained.
    """
    notes, missing = [], []

    def load(loader: Callable[..., object], *args: object, **kwargs: object) -> None:
        try:
            loader(*args, **kwargs)
        except MissingWeightsError as error:
            missing.append(str(error))

    if cfg.get("generator"):
        load(load_generator_weights, module, cfg["generator"])
    elif cfg.get("stylegan2_prior"):
        load(loading.load_stylegan2_prior, module.generator, cfg["stylegan2_prior"],
             config_key="pretrained.stylegan2_prior")
    else:
        notes.append("generator: StyleGAN2 prior is randomly initialised (pretrained.stylegan2_prior is null)")
    module.ema.reset(module.generator_ema, module.generator)
    for term in _terms(module, PerceptualLoss):
        if cfg.get("vgg19"):
            load(loading.load_vgg19, term.extractor, cfg["vgg19"], config_key="pretrained.vgg19")
        else:
            notes.append(f"loss '{term.name}': VGG19 is randomly initialised (pretrained.vgg19 is null)")
    for term in _terms(module, IdentityLoss):
        if cfg.get("arcface"):
            load(loading.load_arcface, term.arcface, cfg["arcface"], config_key="pretrained.arcface")
        else:
            notes.append(f"loss '{term.name}': ArcFace is randomly initialised (pretrained.arcface is null)")
    if len(missing) == 1:
        raise MissingWeightsError(missing[0])
    if missing:
        raise MissingWeightsError(f"{len(missing)} pretrained files are missing:\n" + "\n".join(missing))
    return notes
