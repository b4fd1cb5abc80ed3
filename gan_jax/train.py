"""The training loop: ``train_and_evaluate(config, workdir)``.

Order of work, top to bottom: validate the config (before anything compiles),
build the GAN, initialise or restore the state, then loop over steps, logging
metrics, drawing samples and saving checkpoints on their schedules. Rerunning
the same command on the same workdir resumes from the newest checkpoint.

Faults: a workdir whose run the config cannot continue is refused before any
compile; SIGTERM/SIGINT save a checkpoint and return (gan_jax/preemption.py);
non-finite metrics or parameters raise DivergenceError before anything is saved.

Evaluation (``config.eval_every`` > 0): every eval_every steps and at the last
step, G's samples are scored (gan_jax/eval/evaluate.py) and the ``eval/`` metrics
join that step's row; with ``config.best_metric`` set, the state whose evaluation
beats every earlier one is saved in ``best_checkpoint/``. Evaluating reads the
state and never changes it, nor any random key of training.

Outputs in ``workdir``: ``checkpoints/`` (orbax), ``best_checkpoint/`` (orbax, one
step), ``metrics.jsonl``, ``tensorboard/`` event files, ``samples/`` pictures (image
grids, or scatter plots over the data density for toys) and ``config.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from gan_jax import checkpointing, plotting, preemption, state as state_lib, steps
from gan_jax.configs import ConfigError, validate
from gan_jax.data import synthetic
from gan_jax.eval import evaluate as evaluate_lib, modes
from gan_jax.metric_writer import MetricWriter

_SAMPLE_KEY = 0x5A4D  # folded into the seed for the fixed latents of pictures
_COMPILATION_CACHE_BYTES = 4 * 2**30


def use_compilation_cache(directory: str) -> None:
    """Points JAX's persistent compilation cache at ``directory`` ("" changes nothing).

    A program compiled once (the train step, the evaluation's generator) is stored there and
    loaded, not compiled, by every later process that builds the identical program: a
    resumed or repeated run, a sweep's next seed. The size bound (least recently used entries
    go first) also makes JAX lock the cache, so concurrent processes may share it.
    """
    if not directory:
        return
    path = os.path.abspath(os.path.expanduser(directory))
    if jax.config.jax_compilation_cache_dir == path:
        return
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_compilation_cache_max_size", _COMPILATION_CACHE_BYTES)
    compilation_cache.reset_cache()  # JAX reads the setting once; this makes it read it again


def _truncate_metrics(workdir: str, last_step: int) -> None:
    """Drops metric rows logged after ``last_step`` (the run died past its checkpoint)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if jax.process_index() != 0 or not os.path.exists(path):
        return
    with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)["step"] <= last_step]
    with open(path, "w") as f:
        f.writelines(rows)


class _Sampler:
    """Draws the periodic pictures (and, for toys, mode statistics)."""

    def __init__(self, config, gan: state_lib.GAN, workdir: str, mixture):
        self.gan, self.mixture = gan, mixture
        self.dir = os.path.join(workdir, "samples")
        n = config.num_toy_samples if mixture is not None else config.num_samples
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _SAMPLE_KEY)
        self.z = jax.random.normal(key, (n, gan.latent_dim), jnp.float32)
        self._generate = jax.jit(lambda p, s, z: steps.generate(gan, p, s, z))
        self._discriminate = jax.jit(lambda p, s, x: jax.nn.sigmoid(
            steps.discriminate(gan, p, s, x)))

    def __call__(self, state: state_lib.GANState, step: int) -> dict[str, float]:
        samples = np.asarray(self._generate(
            state_lib.sampling_params(state), state.g_batch_stats, self.z))
        if jax.process_index() != 0:
            return {}
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"step_{step:07d}.png")
        if self.mixture is None:
            plotting.save_image_grid(samples, path)
            return {}
        d_fn = None
        if samples.shape[-1] == 1:
            def d_fn(x):
                return np.asarray(self._discriminate(state.d_params, state.d_batch_stats,
                                                     jnp.asarray(x, jnp.float32)))
        plotting.save_toy_plot(samples, self.mixture, path, title=f"step {step}", d_fn=d_fn)
        stats = modes.mode_stats(samples, self.mixture)
        return {k: float(v) for k, v in stats.items()}


def _make_data(config, mesh, start_step: int):
    """(toy example sampler or None, iterator of real batches or None)."""
    if synthetic.is_synthetic(config.data.name):
        mixture = synthetic.make_mixture(config.data)
        return mixture, (lambda key: synthetic.sample(mixture, key)), None
    from gan_jax.data import input_pipeline

    batches = input_pipeline.global_batches(config.data, mesh, config.batch_size,
                                            config.n_disc, config.seed, start_step)
    return None, None, batches


# Fields a resumed run must share with the run that wrote the checkpoints: they fix
# the shapes in the state, or the data and random numbers the run continues with.
RESUME_FIELDS = ("model", "data.name", "optim.g.name", "optim.d.name", "seed", "batch_size",
                 "n_disc", "unroll_steps", "compute_dtype")
_RUN_OUTPUTS = ("checkpoints", "damaged_checkpoints", "best_checkpoint", "metrics.jsonl",
                "eval.jsonl", "config.json", "samples", "tensorboard")


def _field(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _leaves(tree, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key in sorted(tree):
        out.update(_leaves(tree[key], f"{prefix}.{key}"))
    return out


def _has_checkpoints(workdir: str) -> bool:
    path = os.path.join(workdir, "checkpoints")
    return os.path.isdir(path) and any(n.isdigit() for n in os.listdir(path))


def _check_workdir(config, workdir: str, restart: bool) -> None:
    """Refuses a workdir whose run cannot be continued with ``config`` (unless restarting).

    Also makes sure the workdir is writable, so a bad path fails before any compile.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".gan_jax_write_test"):
            pass
    except OSError as e:
        raise ConfigError(f"workdir {workdir!r} cannot be written: {e.strerror}") from None
    if restart:
        if jax.process_index() == 0 and any(
                os.path.exists(os.path.join(workdir, n)) for n in _RUN_OUTPUTS):
            target = os.path.join(workdir, "previous_runs", time.strftime("%Y%m%d-%H%M%S"))
            os.makedirs(target)
            for name in _RUN_OUTPUTS:
                if os.path.exists(os.path.join(workdir, name)):
                    os.rename(os.path.join(workdir, name), os.path.join(target, name))
            print(f"Starting over: the previous run's outputs were moved to {target}")
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("gan_jax_restart")
        return
    saved_path = os.path.join(workdir, "config.json")
    if not (_has_checkpoints(workdir) and os.path.exists(saved_path)):
        return
    with open(saved_path) as f:
        saved = json.load(f)
    new = json.loads(config.to_json())
    for field in RESUME_FIELDS:
        before = _leaves(_field(saved, field), f"config.{field}")
        now = _leaves(_field(new, field), f"config.{field}")
        for name in sorted(set(before) | set(now)):
            if before.get(name) != now.get(name):
                raise ConfigError(
                    f"workdir {workdir!r} holds a run made with {name}={before.get(name)!r} "
                    f"(its config.json), not {now.get(name)!r}; use another workdir, or "
                    "--restart to move that run aside and start over")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       restart: bool = False) -> state_lib.GANState:
    """Trains the GAN that ``config`` describes, writing everything into ``workdir``.

    Resumes from the newest readable checkpoint in ``workdir``; ``restart`` instead
    moves an earlier run's outputs into ``workdir/previous_runs/`` and starts over.
    """
    data_shape = validate(config)
    workdir = os.path.abspath(workdir)
    _check_workdir(config, workdir, restart)
    use_compilation_cache(config.compilation_cache_dir)

    mesh = steps.make_mesh()
    gan = state_lib.make_gan(config, data_shape)
    state = state_lib.init_state(gan, config.seed)
    state = jax.device_put(state, steps.replicated(mesh))
    logging.info("generator: %d params, discriminator: %d params, %d devices",
                 state_lib.param_count(state.g_params), state_lib.param_count(state.d_params),
                 mesh.devices.size)

    ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                      config.max_checkpoints)
    start_step = 0
    restored = ckpt.restore_latest(state)
    if restored is not None:
        state, meta = restored
        start_step = int(meta["step"])
        _truncate_metrics(workdir, start_step)
        print(f"Resuming from the checkpoint of step {start_step} in {ckpt.directory}")
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json(indent=2))

    mixture, sampler, batches = _make_data(config, mesh, start_step)
    train_step = steps.parallelize(gan, mesh, config.batch_size, sampler)
    draw = _Sampler(config, gan, workdir, mixture)
    evaluation = evaluate_lib.Evaluation(config, gan) if config.eval_every else None
    best_ckpt, best = _open_best(config, workdir, evaluation)
    writer = MetricWriter(workdir)
    examples_per_step = config.batch_size // jax.process_count() * config.n_disc

    def meta(step: int) -> dict[str, Any]:
        return {"step": step, "examples_consumed_per_process": step * examples_per_step,
                "config": json.loads(config.to_json())}

    progress = _progress(config, start_step)
    pending: list[dict[str, jax.Array]] = []
    last_log_time, last_log_step = time.perf_counter(), start_step
    step = start_step
    preempted = False
    try:
        with preemption.PreemptionWatcher() as watcher:
            for step in range(start_step + 1, config.num_steps + 1):
                batch = next(batches) if batches is not None else None
                state, metrics = train_step(state, batch)
                pending.append(metrics)  # fetched in bulk at the next log: no sync per step
                if step == start_step + 2:
                    _check_compiled_once(train_step)
                if progress is not None:
                    progress.update(1)
                last = step == config.num_steps
                preempted = watcher.reached(step)
                log = step % config.log_every == 0 or last
                save = step % config.checkpoint_every == 0 or last or preempted
                evaluate = evaluation is not None and (step % config.eval_every == 0 or last)
                if log or save or evaluate:
                    fetched = jax.device_get(pending)
                    _check_finite(fetched, step, state, ckpt)
                scalars: dict[str, float] = {}
                if log:
                    scalars = {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}
                    now = time.perf_counter()
                    scalars["steps_per_sec"] = (step - last_log_step) / (now - last_log_time)
                    last_log_time, last_log_step, pending = now, step, []
                if step % config.sample_every == 0 or last:
                    scalars.update(draw(state, step))
                text = {}
                if evaluate:
                    evaluated = evaluation(state)
                    last_log_time += evaluated["eval_seconds"]  # steps_per_sec: training only
                    scalars.update(evaluated)
                    text = {"eval_reference": evaluation.reference_key}
                    scalars["eval_samples"] = float(evaluation.n)
                if scalars:
                    writer.write_scalars(step, scalars, text)
                    if progress is not None:
                        progress.set_postfix({k: f"{scalars[k]:.3g}" for k in ("d_loss",
                                              "g_loss", "modes_captured") if k in scalars})
                if save:
                    ckpt.save(step, state, meta(step))
                if evaluate and best is not None and best.improves(evaluated):
                    _save_best(best_ckpt, best, step, state, meta(step), evaluated)
                if preempted:
                    break
    finally:
        for manager in (ckpt, best_ckpt):
            if manager is not None:
                manager.wait()
                manager.close()
        writer.close()
    if progress is not None:
        progress.close()
    if preempted:
        print(f"Stopped by {watcher.signal_name} after step {step}: checkpoint written to "
              f"{ckpt.step_path(step)}; rerun the same command to resume")
    elif step > start_step:
        print(f"Trained to step {step}; outputs in {workdir}")
    else:
        print(f"Nothing to do: the checkpoint in {workdir} is already at step {start_step}")
    if best is not None and best.step is not None and jax.process_index() == 0:
        print(f"Best checkpoint: step {best.step}, {best.metric} = {best.value:.6g}, in "
              f"{best_ckpt.step_path(best.step)}")
    return state


def _open_best(config, workdir: str, evaluation):
    """(Checkpointer of ``best_checkpoint/``, Best read back from it), or (None, None)."""
    if config.best_metric == "none":
        return None, None
    best_ckpt = checkpointing.Checkpointer(os.path.join(workdir, "best_checkpoint"), 1)
    step = best_ckpt.latest_step()
    record = None
    if step is not None:
        try:
            record = best_ckpt.restore_meta(step).get("best")
        except Exception as e:  # noqa: BLE001  (unreadable: the next evaluation replaces it)
            logging.warning("best checkpoint of step %d unreadable (%s); it will be replaced",
                            step, e)
    best = evaluate_lib.Best(config.best_metric, evaluation.reference_key, record)
    if record is not None and best.value is None:
        print(f"The best checkpoint (step {record.get('step')}) was chosen by "
              f"{record.get('metric')} against {record.get('reference_key')}, not "
              f"{config.best_metric} against {evaluation.reference_key}; the next "
              "evaluation replaces it")
    return best_ckpt, best


def _save_best(best_ckpt, best, step: int, state, meta: dict, evaluated: dict) -> None:
    """Replaces the best checkpoint by ``state`` (``_check_finite`` passed at ``step``)."""
    # A best of a later step can only be left by a run resumed from an earlier
    # checkpoint that changed a schedule or learning rate; the new best replaces it.
    for old in best_ckpt.all_steps():
        if old >= step:
            best_ckpt.delete(old)
    best_ckpt.save(step, state, {**meta, "best": best.record(step, evaluated)})


class DivergenceError(RuntimeError):
    """Training produced non-finite values; the message is one line for the user."""


@jax.jit
def _finite_params(state: state_lib.GANState) -> dict[str, jax.Array]:
    parts = {"g_params": state.g_params, "d_params": state.d_params}
    return {name: jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(p)]))
            for name, p in parts.items()}


def _check_finite(fetched: list[dict[str, np.ndarray]], step: int, state, ckpt) -> None:
    """Raises DivergenceError if a metric of the steps up to ``step`` or a parameter is not finite.

    ``fetched`` holds the metrics of the steps ending at ``step``, oldest first; the
    first non-finite one names its own step. Runs before every checkpoint, so no
    checkpoint ever holds a diverged state.
    """
    first = step - len(fetched) + 1
    bad = None
    for i, metrics in enumerate(fetched):
        bad = next(((k, v) for k, v in metrics.items() if not np.all(np.isfinite(v))), None)
        if bad is not None:
            where = f"{bad[0]} is {float(np.ravel(bad[1])[0])} at step {first + i}"
            break
    if bad is None:
        finite = jax.device_get(_finite_params(state))
        names = [name for name, ok in finite.items() if not ok]
        if not names:
            return
        where = f"{' and '.join(names)} hold non-finite values at step {step}"
    ckpt.wait()
    good = ckpt.latest_step()
    kept = (f"the last good checkpoint, step {good}, is intact in {ckpt.step_path(good)}"
            if good is not None else "no checkpoint had been written yet")
    raise DivergenceError(f"training diverged: {where}; stopped without saving; {kept}")


def _check_compiled_once(train_step) -> None:
    """Raises if the jitted step was compiled more than once (shapes or dtypes drifted)."""
    compiled = train_step._cache_size()
    if compiled != 1:
        raise RuntimeError(f"the train step was compiled {compiled} times in two steps; "
                           "every step must reuse the first compilation")


def _progress(config, start_step: int):
    if not config.progress_bar or jax.process_index() != 0:
        return None
    from tqdm import tqdm

    return tqdm(total=config.num_steps, initial=start_step, unit="step", dynamic_ncols=True)
