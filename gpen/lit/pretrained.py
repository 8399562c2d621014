"""Start-up loading of pretrained networks for training (experiments/pretrained_models/README.md).

`pretrained.generator` (fine-tune from an official or own GFP-GAN checkpoint), `pretrained.stylegan2_prior`
(the StyleGAN2 face prior), `pretrained.discriminator` (the global discriminator trained with that prior),
`pretrained.vgg19` (perceptual loss) and `pretrained.arcface` (identity loss)
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
from gpen.utils.validation import check_choice


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


def load_discriminator_weights(module: GANModule, path: str) -> str | None:
    """Start the global discriminator from a trained one (`params`, as `gpen-export --discriminator`
    writes it: the prior run's). Returns a note when the run has no global GAN term to start."""
    term = dict(module.losses).get("gan")
    if term is None or not hasattr(term, "discriminator"):
        return f"pretrained.discriminator={path} not used: this run has no global GAN term (loss.terms.gan)"
    file = resolve_weights(path, what="StyleGAN2 discriminator (gpen-export --discriminator)",
                           config_key="pretrained.discriminator", disable_hint="prior_discriminator_file=null")
    checkpoint = loading.read_checkpoint(file)
    state = checkpoint.get("params") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise loading.CheckpointMismatchError(
            f"{file} is not a discriminator file (no `params` weights); write one with "
            "`gpen-export <prior run>/checkpoints/last.ckpt -o prior.pth --discriminator prior_discriminator.pth`")
    loading.load_strict(term.discriminator, state, file, hint=(
        "Its size differs from loss.terms.gan.discriminator (out_size = data.out_size, channel_multiplier, "
        "narrow): use the discriminator of a prior run at this size, or prior_discriminator_file=null."))
    return None


def start_latent(module: GANModule, latent_start: str) -> str | None:
    """model.latent_start=mean: the W+ head starts at the prior's mean W (GFP-GAN generators)."""
    check_choice("model.latent_start", latent_start, ("random", "mean"))
    if latent_start == "random":
        return None
    if not hasattr(module.generator, "start_latent_at_mean"):
        return (f"model.latent_start=mean does not apply to {type(module.generator).__name__} (no W+ head): "
                "its latent head starts at random")
    module.generator.start_latent_at_mean()
    return None


def load_pretrained(module: GANModule, cfg: Mapping[str, str | None], latent_start: str = "random") -> list[str]:
    """Load every configured file; return one note per network that stays randomly initialised.

    `latent_start` (model.latent_start): "mean" starts a GFP-GAN generator's W+ head at the loaded
    prior's mean W (not when a whole generator is fine-tuned).

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
    if not cfg.get("generator") and (note := start_latent(module, latent_start)):
        notes.append(note)
    module.ema.reset(module.generator_ema, module.generator)
    mismatch = None  # a discriminator file that does not fit: reported after the missing files
    if cfg.get("discriminator"):
        try:
            if note := load_discriminator_weights(module, cfg["discriminator"]):
                notes.append(note)
        except MissingWeightsError as error:
            missing.append(str(error))
        except loading.CheckpointMismatchError as error:
            mismatch = error
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
    if mismatch is not None:
        raise mismatch
    return notes
