"""The experiment config schema (defaults for every field) and its validator.

Experiment files under ``experiments/configs/`` start from :func:`base_config`
and change what they need. :func:`validate` runs before anything is compiled
and turns every mistake it can see into one :class:`ConfigError` line naming
the field, the value and what is allowed.

Groups owned by a registry are checked by it: ``config.model`` by
``gan_jax.models`` (a model's fields are its builder's keyword arguments; make
the group with ``models.model_config(name, ...)``), ``config.regularizers`` by
``gan_jax.penalties``, ``config.data`` by the data source it names.
"""

from __future__ import annotations

import math

import jax
import ml_collections

from gan_jax import augment, data as data_lib, losses, models, penalties
from gan_jax.errors import ConfigError
from gan_jax.state import GENERATED_LABELS, OPTIMIZERS, SCHEDULES

COMPUTE_DTYPES = ("float32", "bfloat16")


def _optimizer(lr: float) -> ml_collections.ConfigDict:
    # schedule: "constant", "linear" (to 0 at the last update) or "cosine", over the player's
    # own updates (D: num_steps * n_disc), after warmup_steps of linear rise from 0.
    return ml_collections.ConfigDict(dict(name="adam", lr=lr, b1=0.5, b2=0.999,
                                          schedule="constant", warmup_steps=0))


def base_config() -> ml_collections.ConfigDict:
    """Every field an experiment config may set, with its default."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.loss = "nonsaturating"          # a name in gan_jax.losses.LOSSES
    c.n_disc = 1                      # D updates per G update
    c.batch_size = 64                 # global batch, over all devices
    c.num_steps = 1000                # G updates
    c.ema_decay = 0.0                 # EMA of G's weights; 0 keeps none
    # Layers' compute dtype: "bfloat16" for accelerators; parameters, batch norm and
    # losses stay float32.
    c.compute_dtype = "float32"
    # Labels of generated examples, for labelled data: "uniform" over the classes, or "data"
    # (the real labels' frequencies).
    c.generated_labels = "uniform"
    # Regularisers and training devices (gan_jax/penalties.py); the defaults turn them off.
    # regularizers: name -> weight, or -> {"weight": w, "every": k} (lazy), e.g. {"r1": 10}.
    c.regularizers = ml_collections.ConfigDict()
    c.penalty = "none"                # one more regulariser: a name in penalties.PENALTIES
    c.penalty_weight = 10.0           # lambda of gp/dragan, gamma of r1/r2 (gamma/2 convention)
    c.clip_weights = 0.0              # clip D's parameters to [-c, c] after each update; 0 = off
    c.instance_noise = 0.0            # std of Gaussian noise on D's inputs at step 0; 0 = off
    c.instance_noise_steps = 0        # steps over which it falls linearly to 0; 0 = constant
    # DiffAugment of D's inputs, real and generated, in D's and G's losses (gan_jax/augment.py):
    # comma-separated "color", "translation", "cutout"; "" = off.
    c.diffaugment = ""
    c.unroll_steps = 0                # D updates G looks through (unrolled GAN); 0 = off

    c.data = ml_collections.ConfigDict()
    c.data.name = "ring8"             # a source in gan_jax.data.SOURCES or a TFDS dataset name
    c.data.data_dir = ml_collections.FieldReference(None, field_type=str)
    c.data.split = "train"
    c.data.shuffle_buffer = 60_000
    # Image folders ("folder": path; "emoji": none) are built once into a TFDS dataset.
    c.data.path = ml_collections.FieldReference(None, field_type=str)
    c.data.resolution = 64            # square side the images are resized to
    c.data.channels = 3               # 3 (RGB) or 1 (greyscale)
    c.data.on_bad_image = "skip"      # an unreadable image file: "skip" (warn) or "error"
    # Parameters of the synthetic mixtures (see gan_jax.data.synthetic).
    c.data.radius = 1.0
    c.data.std = 0.01
    c.data.means = (2.0,)
    c.data.stds = (0.5,)
    c.data.weights = ml_collections.FieldReference(None, field_type=tuple)

    # A name in gan_jax.models.MODELS and that model's fields (its builder's keyword arguments).
    c.model = models.model_config("mlp", latent_dim=2, hidden=128, depth=3)

    c.optim = ml_collections.ConfigDict()
    c.optim.g = _optimizer(1e-4)
    c.optim.d = _optimizer(1e-4)

    c.log_every = 100                 # steps between metric logs
    c.sample_every = 500              # steps between sample pictures
    c.checkpoint_every = 500          # steps between checkpoints
    c.max_checkpoints = 3             # newest checkpoints kept
    c.num_samples = 64                # images in a sample grid
    c.num_toy_samples = 2500          # toy samples per plot and mode count
    # Periodic evaluation (gan_jax/eval/evaluate.py): every eval_every steps and at the last
    # step; 0 = off. Images: eval_samples generated images against the real data's cached
    # statistics; toys: the mode statistics on num_toy_samples samples.
    c.eval_every = 0
    c.eval_samples = 5000
    # Image features (gan_jax/eval/image_eval.py): "lenet" (FD-LeNet, MNIST-like data only),
    # "inception" (FID; weights from `gan-jax features prepare inception`) or "auto" (LeNet
    # where gan_jax has one, else Inception). eval_resize: the Inception resize mode.
    # eval_protocol: "none", or a named standard setting that fixes the features, the real
    # split and both counts (image_eval.PROTOCOLS: fid50k_full, fid10k_test).
    c.eval_features = "auto"
    c.eval_resize = "tf_bilinear"
    c.eval_protocol = "none"
    # The metric that picks workdir/best_checkpoint/ ("none" keeps no best checkpoint);
    # gan_jax.eval.evaluate.METRICS lists the names and which direction is better.
    c.best_metric = "none"
    c.progress_bar = True
    # JAX's persistent compilation cache: a rerun, resumed or repeated run of the same step
    # loads the compiled program instead of compiling it again; "" leaves JAX's own setting.
    c.compilation_cache_dir = "~/.cache/gan_jax/xla"
    return c


def dcgan_image_config(dataset: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """The DCGAN of Lucic et al. (2018) on a 28x28 TFDS image dataset, 10,000 steps.

    Non-saturating loss, Adam(2e-4, b1 = 0.5) for both networks, batch 64. ``arg`` is
    None for the CPU setup, or "gpu"/"tpu" for accelerators: 64 examples per device
    and layers computing in bfloat16 (parameters, batch norm and losses stay float32).
    """
    c = base_config()
    c.data.name = dataset
    c.data.split = "train"
    c.model = models.model_config("dcgan", latent_dim=64)
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 10_000
    c.optim.g.lr = c.optim.d.lr = 2e-4
    c.log_every = 100
    c.sample_every = c.checkpoint_every = 1000
    # Image metrics of 5,000 samples against 5,000 real training images every 1,000
    # steps; best_checkpoint/ keeps the lowest FD-LeNet.
    c.eval_every, c.eval_samples, c.best_metric = 1000, 5000, "fd_lenet"
    if arg in ("gpu", "tpu"):
        c.batch_size = 64 * jax.device_count()
        c.compute_dtype = "bfloat16"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# Groups whose fields a registry checks (models, regularisers) or that hold groups of
# their own (the two optimizers).
_REGISTRY_GROUPS = ("config.model", "config.regularizers", "config.optim")


def _unknown_fields(config, schema, prefix="config") -> None:
    for key in config.keys():
        where = f"{prefix}.{key}"
        _check(key in schema, f"unknown field {where}; allowed fields of {prefix}: "
               + ", ".join(sorted(schema.keys())))
        if isinstance(schema[key], ml_collections.ConfigDict) and prefix not in _REGISTRY_GROUPS \
                and where not in _REGISTRY_GROUPS[:2]:
            _check(isinstance(config[key], ml_collections.ConfigDict),
                   f"{where} must be a group of fields, got {config[key]!r}")
            _unknown_fields(config[key], schema[key], where)


def _positive_int(config, field: str) -> None:
    value = config
    for part in field.split("."):
        value = value[part]
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           f"config.{field}={value!r} must be a positive integer")


# Fields an optimizer group may hold (each optimizer reads the ones it knows).
OPTIMIZER_FIELDS = ("name", "lr", "b1", "b2", "eps_root", "momentum", "decay", "schedule",
                    "warmup_steps")


def _is_number(value) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_optimizer(opt, where: str) -> None:
    _check(isinstance(opt, ml_collections.ConfigDict),
           f"{where} must be a group of fields, got {opt!r}")
    for key in opt.keys():
        _check(key in OPTIMIZER_FIELDS, f"unknown field {where}.{key}; allowed fields of "
               f"{where}: " + ", ".join(OPTIMIZER_FIELDS))
    _check(opt.get("name") in OPTIMIZERS,
           f"unknown optimizer {opt.get('name')!r} ({where}.name); allowed: "
           + ", ".join(sorted(OPTIMIZERS)))
    lr = opt.get("lr")
    _check(_is_number(lr) and lr > 0, f"{where}.lr={lr!r} must be a positive number")
    for key in ("b1", "b2", "momentum"):
        value = opt.get(key)
        _check(value is None or (_is_number(value) and 0 <= value < 1),
               f"{where}.{key}={value!r} must be a number in [0, 1)")
    decay = opt.get("decay")
    _check(decay is None or (_is_number(decay) and 0 < decay < 1),
           f"{where}.decay={decay!r} must be a number in (0, 1)")
    eps_root = opt.get("eps_root")
    _check(eps_root is None or (_is_number(eps_root) and eps_root >= 0),
           f"{where}.eps_root={eps_root!r} must be a number >= 0")
    schedule = opt.get("schedule", "constant")
    _check(schedule in SCHEDULES, f"unknown schedule {schedule!r} ({where}.schedule); "
           "allowed: " + ", ".join(SCHEDULES))
    warmup = opt.get("warmup_steps", 0)
    _check(isinstance(warmup, int) and not isinstance(warmup, bool) and warmup >= 0,
           f"{where}.warmup_steps={warmup!r} must be an integer >= 0")


def _check_data_fields(data) -> None:
    _check(isinstance(data.name, str) and data.name != "",
           f"config.data.name={data.name!r} must be a dataset name (a string)")
    _check(data.data_dir is None or (isinstance(data.data_dir, str) and data.data_dir != ""),
           f"config.data.data_dir={data.data_dir!r} must be a directory path or None")
    _check(isinstance(data.split, str) and data.split != "",
           f"config.data.split={data.split!r} must be a split name such as 'train'")
    _check(data.path is None or (isinstance(data.path, str) and data.path != ""),
           f"config.data.path={data.path!r} must be a directory path or None")
    res = data.resolution
    _check(isinstance(res, int) and not isinstance(res, bool) and res > 0,
           f"config.data.resolution={res!r} must be a positive integer (the square side)")
    _check(data.channels in (1, 3) and not isinstance(data.channels, bool),
           f"config.data.channels={data.channels!r} must be 1 (greyscale) or 3 (RGB)")
    _check(data.on_bad_image in ("skip", "error"),
           f"config.data.on_bad_image={data.on_bad_image!r} must be 'skip' or 'error'")


# The fewest generated images an evaluation may use: PRDC needs k + 1 = 6 neighbours,
# and fewer than a few hundred make every metric too noisy to rank checkpoints.
MIN_EVAL_SAMPLES = 100


def _check_eval_fields(config, source) -> None:
    from gan_jax.eval import evaluate

    value = config.eval_every
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
           f"config.eval_every={value!r} must be an integer >= 0 (0 turns evaluation off)")
    value = config.eval_samples
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= MIN_EVAL_SAMPLES,
           f"config.eval_samples={value!r} must be an integer >= {MIN_EVAL_SAMPLES}")
    from gan_jax.eval import image_eval, inception

    _check(config.eval_features in ("auto", *image_eval.FEATURES),
           f"config.eval_features={config.eval_features!r} must be one of auto, "
           + ", ".join(image_eval.FEATURES))
    _check(config.eval_resize in inception.RESIZE_MODES,
           f"config.eval_resize={config.eval_resize!r} must be one of "
           + ", ".join(inception.RESIZE_MODES))
    _check(config.eval_protocol == "none" or config.eval_protocol in image_eval.PROTOCOLS,
           f"config.eval_protocol={config.eval_protocol!r} must be none or one of "
           + ", ".join(image_eval.PROTOCOLS))
    _check(config.eval_protocol == "none" or config.eval_features in ("auto", "inception"),
           f"config.eval_protocol={config.eval_protocol!r} uses the Inception features, not "
           f"config.eval_features={config.eval_features!r}")
    features = evaluate.features_of(config)
    if config.eval_every:
        problem = evaluate.unsupported(config.data, source.spec, features)
        _check(problem is None, f"config.eval_every={config.eval_every} {problem} "
               "(or set config.eval_every=0)")
    name = config.best_metric
    if name == "none":
        return
    allowed = evaluate.metric_names(source.spec, features)
    _check(name in allowed, f"unknown best_metric {name!r} (config.best_metric) for "
           f"config.data.name={config.data.name!r}; allowed: none, " + ", ".join(allowed))
    _check(config.eval_every > 0, f"config.best_metric={name!r} needs config.eval_every > 0 "
           "(the evaluations that pick the best checkpoint)")


def from_json(saved: dict) -> ml_collections.ConfigDict:
    """The config a run saved as ``config.json``, on top of today's defaults.

    Fields the run did not know get their defaults; JSON lists become tuples where
    the schema holds a tuple. Unknown fields are kept, for :func:`validate` to name.
    """
    config = base_config()

    def merge(target, values):
        for key, value in values.items():
            current = target.get(key) if key in target else None
            if isinstance(value, dict) and isinstance(current, ml_collections.ConfigDict):
                merge(current, value)
                continue
            if isinstance(value, list):
                value = tuple(value)
            with target.ignore_type():
                target[key] = ml_collections.ConfigDict(value) if isinstance(value, dict) \
                    else value

    if isinstance(saved.get("model"), dict):
        saved = {**saved, "model": models.migrate_saved(saved["model"])}
        name = saved["model"].get("name")
        if name in models.MODELS:
            # The model's own defaults, not the base config's MLP fields.
            config.model = models.model_config(name)
    merge(config, saved)
    return config


def validate(config: ml_collections.ConfigDict, num_devices: int | None = None):
    """Checks every field; returns the opened data source (``gan_jax.data``). Raises
    ConfigError.

    The data source is opened last, after every cheap check: a TFDS dataset reads its
    metadata, an image folder is built (once). A folder's resolution is checked against the
    model before the build.
    """
    _unknown_fields(config, base_config())
    _check(config.loss in losses.LOSSES,
           f"unknown loss {config.loss!r} (config.loss); allowed: "
           + ", ".join(sorted(losses.LOSSES)))
    _check(config.penalty in penalties.PENALTIES,
           f"unknown penalty {config.penalty!r} (config.penalty); allowed: "
           + ", ".join(sorted(penalties.PENALTIES)))
    for field in ("penalty_weight", "clip_weights", "instance_noise"):
        value = config[field]
        _check(isinstance(value, int | float) and not isinstance(value, bool)
               and math.isfinite(value) and value >= 0,
               f"config.{field}={value!r} must be a number >= 0 (0 turns it off)")
    _check(isinstance(config.regularizers, ml_collections.ConfigDict),
           f"config.regularizers={config.regularizers!r} must map regulariser names to "
           "weights, e.g. {'r1': 10.0}")
    try:
        penalties.regularizers_of(config)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for field in ("instance_noise_steps", "unroll_steps"):
        value = config[field]
        _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
               f"config.{field}={value!r} must be an integer >= 0 (0 turns it off)")
    for field in ("n_disc", "batch_size", "num_steps", "log_every", "sample_every",
                  "checkpoint_every", "max_checkpoints", "num_samples", "num_toy_samples",
                  "data.shuffle_buffer"):
        _positive_int(config, field)
    _check(_is_number(config.ema_decay) and 0.0 <= config.ema_decay < 1.0,
           f"config.ema_decay={config.ema_decay!r} must be in [0, 1) (0 keeps no EMA)")
    _check(isinstance(config.seed, int) and not isinstance(config.seed, bool)
           and 0 <= config.seed < 2**32,
           f"config.seed={config.seed!r} must be an integer in [0, 2**32)")
    _check(isinstance(config.progress_bar, bool),
           f"config.progress_bar={config.progress_bar!r} must be True or False")
    _check(isinstance(config.compilation_cache_dir, str),
           f"config.compilation_cache_dir={config.compilation_cache_dir!r} must be a path "
           "(a string; \"\" leaves JAX's own setting)")
    _check(config.instance_noise_steps == 0 or config.instance_noise > 0,
           f"config.instance_noise_steps={config.instance_noise_steps} needs "
           "config.instance_noise > 0 (the noise it anneals)")
    _check(isinstance(config.diffaugment, str),
           f"config.diffaugment={config.diffaugment!r} must be a comma-separated string of "
           "augmentations, e.g. 'color,translation,cutout'")
    try:
        policy = augment.parse_policy(config.diffaugment)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _check(config.generated_labels in GENERATED_LABELS,
           f"config.generated_labels={config.generated_labels!r} is not allowed; allowed: "
           + ", ".join(GENERATED_LABELS))
    _check(isinstance(config.model, ml_collections.ConfigDict) and "name" in config.model,
           "config.model must be a group of fields with a name; make it with "
           "gan_jax.models.model_config(name, ...)")
    _check_data_fields(config.data)
    _check(config.compute_dtype in COMPUTE_DTYPES,
           f"config.compute_dtype={config.compute_dtype!r} is not allowed; allowed: "
           + ", ".join(COMPUTE_DTYPES))
    for name in ("g", "d"):
        _check(name in config.optim, f"config.optim.{name} is missing")
        _check_optimizer(config.optim[name], f"config.optim.{name}")
    num_devices = jax.device_count() if num_devices is None else num_devices
    _check(config.batch_size % num_devices == 0,
           f"config.batch_size={config.batch_size} is not divisible by the {num_devices} "
           f"devices; use a multiple of {num_devices}")
    pack = config.model.get("pack", 1)
    if isinstance(pack, int) and not isinstance(pack, bool) and pack > 1:
        _check(config.batch_size % (num_devices * pack) == 0,
               f"config.batch_size={config.batch_size} on {num_devices} device(s) does not split "
               f"into groups of config.model.pack={pack} on every device; use a multiple of "
               f"{num_devices * pack}")
    try:
        hint = data_lib.expected_shape(config.data)
        if hint is not None:  # labels are not known before the build: assume some
            models.check_model(config.model, data_lib.Spec(hint, (-1.0, 1.0), 1))
        source = data_lib.get(config.data)
        models.check_model(config.model, source.spec)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _check(not policy or len(source.spec.shape) == 3,
           f"config.diffaugment={config.diffaugment!r} augments images; "
           f"config.data.name={config.data.name!r} is not image data")
    _check_eval_fields(config, source)
    return source
