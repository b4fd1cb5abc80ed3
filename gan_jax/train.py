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
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from gan_jax import (
    checkpointing,
    plotting,
    preemption,
    runs,
    sampling,
    sharding,
    state as state_lib,
    steps,
    workdir as workdir_lib,
)
from gan_jax.compilation import use_compilation_cache
from gan_jax.errors import DivergenceError
from gan_jax.eval import evaluate as evaluate_lib, modes
from gan_jax.metric_writer import MetricWriter


class _Sampler:
    """Draws the periodic pictures (and, for toys, mode statistics)."""

    def __init__(self, config, gan: state_lib.GAN, workdir: str, source):
        self.gan, self.source = gan, source
        self.mixture = getattr(source, "mixture", None)
        self.dir = os.path.join(workdir, "samples")
        n = config.num_toy_samples if len(gan.data_shape) == 1 else config.num_samples
        self.z = sampling.fixed_latents(config.seed, sampling.PICTURES, (n, gan.latent_dim))
        self.y = sampling.fixed_labels(n, gan.num_classes)
        self.grid_labels = sampling.grid_labels(config, self.y)
        self._generate = sampling.Generator(gan, batch=n)
        self._discriminate = jax.jit(lambda p, s, x: jax.nn.sigmoid(gan.d_apply(p, s, x)))

    def __call__(self, state: state_lib.GANState, step: int) -> dict[str, float]:
        samples = self._generate(state, self.z, self.y)
        if jax.process_index() != 0:
            return {}
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"step_{step:07d}.png")
        d_fn = None
        if (samples.shape[-1] == 1 and samples.ndim == 2 and not self.gan.num_classes
                and self.gan.pack == 1):  # a packed D scores groups, not points
            def d_fn(x):
                return np.asarray(self._discriminate(state.d_params, state.d_batch_stats,
                                                     jnp.asarray(x, jnp.float32)))
        plotting.save_samples(samples, self.source, path, title=f"step {step}", d_fn=d_fn,
                              labels=self.grid_labels)
        if self.mixture is None:
            return {}
        stats = modes.mode_stats(samples, self.mixture)
        return {k: float(v) for k, v in stats.items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       restart: bool = False) -> state_lib.GANState:
    """Trains the GAN that ``config`` describes, writing everything into ``workdir``.

    Resumes from the newest readable checkpoint in ``workdir``; ``restart`` instead
    moves an earlier run's outputs into ``workdir/previous_runs/`` and starts over.
    """
    source, gan = runs.build(config)
    workdir = os.path.abspath(workdir)
    workdir_lib.check_workdir(config, workdir, restart)
    use_compilation_cache(config.compilation_cache_dir)

    mesh = sharding.make_mesh()
    state = state_lib.init_state(gan, config.seed)
    state = jax.device_put(state, sharding.replicated(mesh))
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
        workdir_lib.truncate_metrics(workdir, start_step)
        print(f"Resuming from the checkpoint of step {start_step} in {ckpt.directory}")
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json(indent=2))

    if source.in_step:
        sampler, batches = source.sample, None
    else:
        sampler = None
        batches = source.batches(mesh, global_batch=config.batch_size, n_disc=config.n_disc,
                                 seed=config.seed, start_step=start_step)
    train_step = steps.parallelize(gan, mesh, config.batch_size, sampler)
    draw = _Sampler(config, gan, workdir, source)
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
