"""GANState: the whole training state as one pytree, and how to create it.

Everything that changes during training lives here (step, both networks'
parameters and batch statistics, both optimizer states, the EMA of G's
parameters, the root key), so a step is a pure function ``state -> state`` and a
checkpoint is one pytree. What does not change (the modules, the optimizers,
the objective) lives in :class:`GAN`, a static description built from the
config.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import augment, losses, models, penalties

PyTree = Any


@flax.struct.dataclass
class GANState:
    """One pytree holding a GAN's training state.

    Attributes:
      step: int32 scalar, number of completed train steps (G updates).
      g_params, d_params: parameters of the generator and discriminator.
      g_batch_stats, d_batch_stats: BatchNorm running statistics (empty dicts
        for models without batch norm).
      g_opt_state, d_opt_state: optax states of the two optimizers.
      ema_g_params: exponential moving average of ``g_params`` or ``None`` when
        ``config.ema_decay == 0``.
      rng: the root PRNG key (uint32[2]); per-step keys are folded from it,
        never split and carried.
    """

    step: jax.Array
    g_params: PyTree
    d_params: PyTree
    g_batch_stats: PyTree
    d_batch_stats: PyTree
    g_opt_state: PyTree
    d_opt_state: PyTree
    ema_g_params: PyTree | None
    rng: jax.Array


class Regularizer(NamedTuple):
    """One regulariser of D's loss: ``weight * every * fn(...)`` on every ``every``-th D update.

    ``every > 1`` is lazy regularisation (Karras et al., "Analyzing and Improving the Image
    Quality of StyleGAN", CVPR 2020, Sec. 4.1): the term is computed on one D update in
    ``every`` and scaled by ``every``, so its average weight stays ``weight``.
    """

    name: str
    fn: Callable
    weight: float
    every: int = 1


@flax.struct.dataclass
class GAN:
    """The static part of a GAN: modules, optimizers, objective and sizes.

    It is a pytree with no leaves, so it can be closed over by jitted code.
    :meth:`g_apply` and :meth:`d_apply` run the two players.
    """

    generator: Any = flax.struct.field(pytree_node=False)
    discriminator: Any = flax.struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    objective: losses.Objective = flax.struct.field(pytree_node=False)
    latent_dim: int = flax.struct.field(pytree_node=False)
    data_shape: tuple[int, ...] = flax.struct.field(pytree_node=False)
    n_disc: int = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False)
    # Labels: the number of classes of the data (None: unlabelled) and the log-probabilities
    # of the labels the step draws for generated examples.
    num_classes: int | None = flax.struct.field(pytree_node=False, default=None)
    label_log_probs: tuple[float, ...] | None = flax.struct.field(pytree_node=False,
                                                                  default=None)
    # Regularisers and training devices (gan_jax/penalties.py); the defaults turn them off.
    regularizers: tuple[Regularizer, ...] = flax.struct.field(pytree_node=False, default=())
    clip_weights: float = flax.struct.field(pytree_node=False, default=0.0)
    instance_noise: float = flax.struct.field(pytree_node=False, default=0.0)
    instance_noise_steps: int = flax.struct.field(pytree_node=False, default=0)
    unroll_steps: int = flax.struct.field(pytree_node=False, default=0)
    # DiffAugment policy of D's inputs (gan_jax/augment.py); () = none.
    augment: tuple[str, ...] = flax.struct.field(pytree_node=False, default=())
    # Packing (config.model.pack; Lin et al. 2018): D scores groups of this many examples
    # concatenated along the last axis (models.pack_examples); 1 = every example alone.
    pack: int = flax.struct.field(pytree_node=False, default=1)

    def g_apply(self, params, batch_stats, z: jax.Array, y: jax.Array | None = None, *,
                train: bool = False):
        """G's samples [B, *data_shape] of latents z [B, latent_dim] and labels y [B].

        ``train=False``: evaluation mode (running statistics); returns the samples.
        ``train=True``: batch statistics of this batch; returns (samples, new statistics).
        """
        return _apply(self.generator, params, batch_stats, z, y, train)

    def d_apply(self, params, batch_stats, x: jax.Array, y: jax.Array | None = None, *,
                train: bool = False):
        """D's raw scores [B / pack] of examples x [B, *data_shape] and labels y [B].

        With ``pack`` = m > 1 the m consecutive examples of each group are concatenated
        (:meth:`pack_input`) and D scores the group. ``train=False`` returns the scores;
        ``train=True`` returns (scores, new statistics).
        """
        return self.d_apply_packed(params, batch_stats, *self.pack_input(x, y), train=train)

    def d_apply_packed(self, params, batch_stats, x: jax.Array, y: jax.Array | None = None, *,
                       train: bool = False):
        """D's raw scores [P] of already packed examples x [P, *packed shape] (see d_apply)."""
        return _apply(self.discriminator, params, batch_stats, x, y, train)

    def pack_input(self, x: jax.Array, y: jax.Array | None = None):
        """(x, y) as D reads them: x [B, ..., C] -> [B / m, ..., m C] (groups of m consecutive
        examples, along the feature axis of vectors or the channel axis of images) and y [B]
        -> the first label of each group (packing needs an unconditional D, so D ignores
        it). The identity for ``pack`` = 1."""
        if self.pack == 1:
            return x, y
        return models.pack_examples(x, self.pack), (None if y is None else y[::self.pack])

    def draw_label(self, key: jax.Array) -> jax.Array:
        """One generated example's label (int32 []) from ``label_log_probs``."""
        return jax.random.categorical(key, jnp.asarray(self.label_log_probs)).astype(jnp.int32)


def _apply(module, params, batch_stats, x, y, train: bool):
    variables = {"params": params, "batch_stats": batch_stats}
    if not train:
        return module.apply(variables, x, y, train=False)
    out, updates = module.apply(variables, x, y, train=True, mutable=["batch_stats"])
    return out, updates.get("batch_stats", batch_stats)


# name -> (optimizer config, learning rate or schedule) -> optax transformation.
OPTIMIZERS = {
    "adam": lambda c, lr: optax.adam(lr, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999),
                                     eps_root=c.get("eps_root", 0.0)),
    "sgd": lambda c, lr: optax.sgd(lr, momentum=c.get("momentum") or None),
    "rmsprop": lambda c, lr: optax.rmsprop(lr, decay=c.get("decay", 0.9)),
}
# Learning-rate schedules over a player's own updates: name -> (peak lr, updates) -> schedule.
SCHEDULES = {
    "constant": None,
    # To 0 at the last update, as in Miyato et al. 2018 (SNGAN) for both players.
    "linear": lambda lr, n: optax.linear_schedule(lr, 0.0, n),
    "cosine": lambda lr, n: optax.cosine_decay_schedule(lr, n),
}


def learning_rate(opt_config: ml_collections.ConfigDict, updates: int | None = None):
    """``opt_config.lr``, or its schedule over ``updates`` updates of this player.

    ``schedule`` (``SCHEDULES``) decays from ``lr`` over the updates after the warm-up;
    ``warmup_steps`` > 0 first rises linearly from 0 to ``lr``. optax counts the player's
    own updates: D makes ``n_disc`` per G step.
    """
    name = opt_config.get("schedule", "constant")
    warmup = int(opt_config.get("warmup_steps", 0) or 0)
    lr = float(opt_config.lr)
    if name == "constant" and not warmup:
        return lr
    if updates is None:
        raise ValueError("a learning-rate schedule needs the number of updates")
    decay = (lambda _: lr) if name == "constant" else SCHEDULES[name](lr, max(updates - warmup,
                                                                              1))
    if not warmup:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def make_optimizer(opt_config: ml_collections.ConfigDict,
                   updates: int | None = None) -> optax.GradientTransformation:
    """Builds one optimizer from ``config.optim.g`` or ``config.optim.d``; ``updates``: how
    many updates the player makes in the run (the length of a schedule)."""
    return OPTIMIZERS[opt_config.name](opt_config, learning_rate(opt_config, updates))


def make_gan(config: ml_collections.ConfigDict, spec, axis_name: str | None = "data",
             class_frequencies=None) -> GAN:
    """Builds the static GAN description from a (validated) config.

    ``spec`` is the data source's :class:`gan_jax.data.Spec` (or one example's shape, for
    unlabelled data). ``class_frequencies`` ([num_classes], the real labels' frequencies) is
    needed when ``config.generated_labels == "data"``.
    """
    spec = models._as_spec(spec)
    generator, discriminator = models.build_models(config.model, spec, axis_name,
                                                   config.compute_dtype)
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_tx=make_optimizer(config.optim.g, config.num_steps),
        d_tx=make_optimizer(_unrollable(config.optim.d, config.unroll_steps),
                            config.num_steps * config.n_disc),
        objective=losses.get_objective(config.loss),
        latent_dim=config.model.latent_dim,
        data_shape=tuple(spec.shape),
        n_disc=config.n_disc,
        ema_decay=config.ema_decay,
        num_classes=spec.num_classes,
        label_log_probs=label_log_probs(config.generated_labels, spec.num_classes,
                                        class_frequencies),
        regularizers=tuple(Regularizer(*r) for r in penalties.regularizers_of(config)),
        clip_weights=float(config.clip_weights),
        instance_noise=float(config.instance_noise),
        instance_noise_steps=int(config.instance_noise_steps),
        unroll_steps=int(config.unroll_steps),
        augment=augment.parse_policy(config.diffaugment),
        pack=models.pack_of(config.model),
    )


GENERATED_LABELS = ("uniform", "data")


def label_log_probs(mode: str, num_classes: int | None, class_frequencies=None
                    ) -> tuple[float, ...] | None:
    """Log-probabilities of generated labels: uniform over the classes, or the real data's
    class frequencies (``mode = "data"``); None for unlabelled data."""
    if not num_classes:
        return None
    if mode == "uniform":
        return (-math.log(num_classes),) * num_classes
    if mode != "data":
        raise ValueError(f"config.generated_labels={mode!r} is not allowed; allowed: "
                         + ", ".join(GENERATED_LABELS))
    if class_frequencies is None or len(class_frequencies) != num_classes:
        raise ValueError("config.generated_labels='data' needs the data's class frequencies")
    freq = np.asarray(class_frequencies, np.float64)
    with np.errstate(divide="ignore"):
        return tuple(float(v) for v in np.log(freq / freq.sum()))


def _unrollable(opt_config: ml_collections.ConfigDict, unroll_steps: int):
    """D's optimizer config, made safe to differentiate through when G unrolls D.

    Adam divides by sqrt(nu); where a gradient is exactly 0 (biases in front of batch norm)
    nu stays 0 and the derivative of the square root there is infinite, so the unrolled G
    gradient would be NaN. A tiny eps_root inside the square root (optax's own device for
    meta-learning) keeps it finite and leaves the update unchanged to float precision.
    """
    if unroll_steps <= 0 or opt_config.name != "adam" or "eps_root" in opt_config:
        return opt_config
    return ml_collections.ConfigDict({**opt_config.to_dict(), "eps_root": 1e-16})


def init_state(gan: GAN, seed: int) -> GANState:
    """Initialises parameters, batch statistics and optimizer states.

    Initialisation runs the modules with ``train=False`` so no mapped axis is
    needed; the same seed gives the same state on every host.
    """
    root = jax.random.PRNGKey(seed)
    g_key, d_key = jax.random.split(jax.random.fold_in(root, 0x1A17))
    z = jnp.zeros((1, gan.latent_dim), jnp.float32)
    x = jnp.zeros((gan.pack, *gan.data_shape), jnp.float32)
    y = jnp.zeros((1,), jnp.int32) if gan.num_classes else None
    g_vars = gan.generator.init(g_key, z, y, train=False)
    d_vars = gan.discriminator.init(d_key, gan.pack_input(x)[0], y, train=False)
    g_params, d_params = g_vars["params"], d_vars["params"]
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_batch_stats=g_vars.get("batch_stats", {}),
        d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=gan.g_tx.init(g_params),
        d_opt_state=gan.d_tx.init(d_params),
        # A copy: the state is donated to the step, and one buffer may not be donated twice.
        ema_g_params=jax.tree.map(jnp.copy, g_params) if gan.ema_decay > 0 else None,
        rng=root,
    )


def sampling_params(state: GANState) -> PyTree:
    """The generator parameters to draw samples with: the EMA when kept."""
    return state.ema_g_params if state.ema_g_params is not None else state.g_params


def param_count(params: PyTree) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(params))
