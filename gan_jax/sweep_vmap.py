"""The ``vmap`` backend of ``gan_jax.sweep``: many toy runs trained as one compiled program.

Runs of a sweep that compile to the same program (same model, data, batch, ``n_disc``,
unroll steps, number of steps, schedules; see :func:`program_key`) form a *group*. A group's
states are stacked along a leading axis [S] (S runs) and :func:`gan_jax.steps.train_step` is
``jax.vmap``-ed over them, ``lax.scan``-ned over a chunk of steps per call. Each run inside
the vmapped function is the run ``train_and_evaluate`` makes on one device: the step's
collectives see a mapped axis of size one (as in :mod:`gan_jax.toy_seeds`), the state is the
ordinary :class:`~gan_jax.state.GANState` of that run (so its checkpoints have the layout of
every other gan_jax checkpoint), and keys come from the run's own seed and step.

What may differ between the runs of a group, and how it reaches the program:

* Continuous hyperparameters, :data:`CARRIED`: the learning rates (constant schedules),
  Adam's ``b1``/``b2``, the EMA decay, the weight-clipping bound, the instance-noise std and
  each regulariser's weight. A value shared by the whole group is compiled in as a constant
  (exactly the single run's program); a value that varies is a float32 input [S] of the
  vmapped step, and the optimizers, the EMA and the clipping of each run are built from its
  traced values inside the step (optax transformations take arrays as hyperparameters; no
  hyperparameter lives in the optimizer state, so the state keeps its usual layout).
  A clipping bound of 0 (off) is carried as +inf and an instance-noise std of 0 as 0: both
  leave the numbers exactly as an unclipped, noiseless run has them.
* The loss (``config.loss``, any entry of :data:`gan_jax.losses.LOSSES`): a ``lax.switch``
  on a per-run index among the losses the group uses. Under ``vmap`` a switch with a
  per-run index evaluates every branch and selects, which costs little for losses (a few
  elementwise terms on D's logits). Whether G's loss reads D on real data
  (``Objective.g_needs_real``, the relativistic losses) is part of the key, so the other
  losses never pay that extra D pass.

Which regularisers a run uses (``config.penalty``/``config.regularizers``: the names whose
weight is above 0) is part of the key too, since every branch of a switch would be paid by
every run (a double back-propagation through D per gradient penalty): a group's runs share
their regularisers and differ only in the weights, which are carried.

Everything else (the model, the data, the batch, the step schedules of logging, sampling,
evaluation and checkpoints, ``n_disc``, ``unroll_steps``, whether an EMA is kept, the
regularisers and their lazy periods) is part of the group's key: runs that differ there fall into
separate groups, each compiled once.

Devices: a group's runs are spread over the local devices (a ``NamedSharding`` of the run
axis [S]; S is padded to a multiple of the device count with copies of the first run, whose
results are dropped). The runs never communicate, so each device trains its share alone. On
a CPU host JAX makes one device, and XLA runs a batched matrix product of small matrices on
one core; :func:`use_cpu_cores` (called by ``gan_jax.sweep --backend vmap`` before JAX
starts) makes one CPU device per core, so the shares train side by side.

Data: only toy mixtures, drawn inside the step (``ring8``, ``grid25``, ``gauss1d`` ...);
a sweep over image data is refused with one line before anything starts (use the ``local``
backend there).

Outputs per run, in its own workdir, as ``train_and_evaluate`` writes them: ``config.json``,
``checkpoints/`` (orbax, one GANState per step), ``best_checkpoint/``, ``metrics.jsonl``
(the same rows: step means of the step's metrics at ``log_every``, the sample plot's mode
statistics at ``sample_every``, the ``eval/`` metrics at ``eval_every``), TensorBoard events,
``samples/`` plots, ``result.json`` and ``run_seconds.json`` (the wall time of the calls
that trained the group: every run of a group shares it). ``steps_per_sec`` is the group's
rate (steps of one run per second). A run that diverges is reported failed and the others
go on. SIGTERM/SIGINT saves every run of the group at the step it reached and raises
:class:`gan_jax.sweep_runs.RunStopped`; a rerun resumes each run from its newest checkpoint
(runs left at different steps by a SIGKILL first catch up with each other, in smaller
vmapped calls).

Numerics: a run of a group equals the run trained alone up to float rounding (XLA batches
the runs' matrix products, and a carried hyperparameter is an f32 input where the single
run folds a Python constant): parameters agree to 1e-5 after 10 steps
(tests/test_sweep_vmap.py); over thousands of steps GAN dynamics amplify the rounding, so
long runs agree in distribution (the sweep's summary within seed noise), not digit by digit.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax import (
    checkpointing,
    data as data_lib,
    losses,
    penalties,
    plotting,
    preemption,
    runs as runs_lib,
    sampling,
    state as state_lib,
    steps,
    sweep_runs,
    workdir as workdir_lib,
)
from gan_jax.errors import ConfigError, DivergenceError
from gan_jax.eval import evaluate as evaluate_lib, modes
from gan_jax.metric_writer import MetricWriter

# Continuous hyperparameters carried per run (dotted config fields; the Adam betas only
# for Adam, the learning rates only with a constant schedule and no warm-up).
CARRIED = ("optim.g.lr", "optim.d.lr", "optim.g.b1", "optim.g.b2", "optim.d.b1",
           "optim.d.b2", "ema_decay", "clip_weights", "instance_noise")
# Fields that select among registry entries (a lax.switch per run).
SWITCHED = ("loss", "penalty", "penalty_weight", "regularizers")
# Steps per compiled call at most: SIGTERM is answered within one chunk.
MAX_CHUNK = 100
# The data the backend trains: the sources drawn inside the step (toy mixtures).
TOY_DATA = tuple(name for name, factory in data_lib.SOURCES.items()
                 if factory is data_lib.SOURCES["ring8"])


# --- grouping ------------------------------------------------------------------------------


def _get(config_dict: Mapping[str, Any], dotted: str, default=None):
    node: Any = config_dict
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _drop(config_dict: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    node = config_dict
    for part in parents:
        node = node.get(part, {})
    node.pop(leaf, None)


def _carried_fields(config) -> list[str]:
    """The fields of :data:`CARRIED` that this config can carry as numbers."""
    fields = ["ema_decay", "clip_weights", "instance_noise"]
    for player in ("g", "d"):
        opt = config.optim[player]
        if state_lib.learning_rate(opt, 1) == float(opt.lr):  # constant: a number
            fields.append(f"optim.{player}.lr")
        if opt.name == "adam":
            fields += [f"optim.{player}.b1", f"optim.{player}.b2"]
    return fields


def _carried_value(config, field: str) -> float:
    if field.startswith("optim."):
        _, player, name = field.split(".")
        opt = config.optim[player]
        return float(opt.get(name, {"b1": 0.9, "b2": 0.999}.get(name)))
    return float(config[field])


def program_key(config) -> str:
    """What fixes the compiled program of a run: the config without the carried and
    switched fields, plus the structural facts they imply (EMA kept or not, the
    regularisers turned on and their lazy periods, whether G's loss reads D on real data).
    Runs with equal keys share a program."""
    d = json.loads(config.to_json())
    for field in ("seed", *SWITCHED, *_carried_fields(config)):
        _drop(d, field)
    regs = penalties.regularizers_of(config)
    d["_structure"] = {"ema": config.ema_decay > 0,
                       "regularizers": [(name, every) for name, _, _, every in regs],
                       "g_needs_real": losses.get_objective(config.loss).g_needs_real}
    return json.dumps(d, sort_keys=True)


class Member:
    """One run of a group: its plan entry, config, source, GAN and regularisers."""

    def __init__(self, index: int, run: Mapping[str, Any], config, source, gan):
        self.index, self.run, self.config, self.source, self.gan = index, run, config, source, gan
        self.workdir = os.path.abspath(run["workdir"])
        self.regs = [(name, weight, every)
                     for name, _, weight, every in penalties.regularizers_of(config)]
        self.values = {f: _carried_value(config, f) for f in _carried_fields(config)}


class Group:
    """Runs that share one program; ``hp`` holds the hyperparameters that vary [S]."""

    def __init__(self, members: list[Member]):
        self.members = members
        first = members[0]
        self.config, self.source, self.gan = first.config, first.source, first.gan
        self.loss_names = sorted({m.config.loss for m in members})
        self.regs = [(name, every) for name, _, every in first.regs]  # shared: in the key
        values: dict[str, list[float]] = {}
        for f in first.values:
            values[f] = [m.values[f] for m in members]
        if len(self.loss_names) > 1:
            values["loss_index"] = [self.loss_names.index(m.config.loss) for m in members]
        for j in range(len(self.regs)):
            values[f"reg{j}_weight"] = [m.regs[j][1] for m in members]
        # A value shared by all runs is compiled in; one that varies is carried per run.
        self.constants = {k: v[0] for k, v in values.items() if len(set(v)) == 1}
        self.varying = {k: v for k, v in values.items() if len(set(v)) > 1}

    def __len__(self) -> int:
        return len(self.members)

    def hp_arrays(self, rows: Sequence[int] | None = None) -> dict[str, jax.Array]:
        rows = range(len(self)) if rows is None else rows
        out = {}
        for k, v in self.varying.items():
            dtype = jnp.int32 if k.endswith("_index") else jnp.float32
            out[k] = jnp.asarray([v[i] for i in rows], dtype)
        return out


def group_runs(members: Sequence[Member]) -> list[Group]:
    """Members grouped by :func:`program_key`, in order of first appearance."""
    groups: dict[str, list[Member]] = {}
    for m in members:
        groups.setdefault(program_key(m.config), []).append(m)
    return [Group(ms) for ms in groups.values()]


# --- the per-run GAN inside the program -----------------------------------------------------


def _switch(index, fns: Sequence[Callable]) -> Callable:
    """``fns[index](*args)`` for array arguments (a loss's logits)."""
    if len(fns) == 1:
        return fns[0]
    return lambda *args: lax.switch(index, list(fns), *args)


def _optimizer(config, player: str, hp: Mapping[str, Any], unroll_steps: int):
    opt = config.optim[player]
    if player == "d":
        opt = state_lib._unrollable(opt, unroll_steps)
    updates = config.num_steps * (config.n_disc if player == "d" else 1)
    fields = dict(opt.to_dict())
    for name in ("b1", "b2"):
        if f"optim.{player}.{name}" in hp:
            fields[name] = hp[f"optim.{player}.{name}"]
    lr_field = f"optim.{player}.lr"
    lr = hp[lr_field] if lr_field in hp else state_lib.learning_rate(opt, updates)
    return state_lib.OPTIMIZERS[opt.name](fields, lr)


def run_gan(group: Group, hp: Mapping[str, Any]) -> state_lib.GAN:
    """The GAN of one run: the group's static GAN with that run's hyperparameters ``hp``
    (constants and this run's traced values, by the names of :class:`Group`)."""
    gan, config = group.gan, group.config
    objectives = [losses.get_objective(n) for n in group.loss_names]
    index = hp.get("loss_index", 0)
    objective = losses.Objective(
        d_loss=_switch(index, [o.d_loss for o in objectives]),
        g_loss=_switch(index, [o.g_loss for o in objectives]),
        g_needs_real=any(o.g_needs_real for o in objectives))
    regularizers = tuple(
        state_lib.Regularizer(name, penalties.PENALTIES[name], hp[f"reg{j}_weight"], every)
        for j, (name, every) in enumerate(group.regs))
    clip = hp["clip_weights"]
    if not isinstance(clip, float):  # varying: off is an infinite bound
        clip = jnp.where(clip > 0, clip, jnp.inf)
    return gan.replace(
        g_tx=_optimizer(config, "g", hp, gan.unroll_steps),
        d_tx=_optimizer(config, "d", hp, gan.unroll_steps),
        objective=objective, regularizers=regularizers, clip_weights=clip,
        ema_decay=hp["ema_decay"], instance_noise=hp["instance_noise"])


_PROGRAMS: dict[str, Callable] = {}


def _signature(group: Group) -> str:
    """Everything that fixes a group's program (not its size S: jit keys on shapes)."""
    return json.dumps([program_key(group.config), group.loss_names,
                       sorted(group.constants.items()), sorted(group.varying)])


def make_chunk(group: Group) -> Callable:
    """The jitted ``(states [S], hp {name: [S]}, length) -> (states, metrics {name:
    [length, S]})``: ``length`` train steps of every run; states donated. Groups with the
    same program (a resumed one, in the same process) share one jitted function."""
    key = _signature(group)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _make_chunk(group)
    return _PROGRAMS[key]


def _make_chunk(group: Group) -> Callable:
    config, sampler = group.config, group.source.sample
    constants = group.constants

    def one_run(state, hp):
        gan = run_gan(group, {**constants, **hp})
        # A mapped axis of size one named like the mesh axis: the step's pmean and
        # axis_index see one device, as on a one-device mesh.
        new, metrics = jax.vmap(
            lambda s: steps.train_step(gan, s, None, local_batch=config.batch_size,
                                       sampler=sampler),
            axis_name=steps.AXIS)(jax.tree.map(lambda x: x[None], state))
        return jax.tree.map(lambda x: x[0], (new, metrics))

    step_all = jax.vmap(one_run)

    def chunk(states, hp, length):
        return lax.scan(lambda s, _: step_all(s, hp), states, None, length=length)

    return jax.jit(chunk, static_argnums=2, donate_argnums=0)


# --- plan and memory ------------------------------------------------------------------------


def _nbytes(tree) -> int:
    return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def memory_estimate(group: Group) -> tuple[int, int]:
    """(state bytes, activation bytes) of the whole group: the GANState (parameters,
    optimizer states, EMA) times S, and every intermediate of one step's program kept at
    once, times S (an upper bound: XLA frees and fuses most of them)."""
    abstract = jax.eval_shape(lambda: state_lib.init_state(group.gan, 0))
    hp = {k: (0 if k.endswith("_index") else 0.5) for k in group.varying}
    hp_abstract = {k: jax.ShapeDtypeStruct((), jnp.int32 if k.endswith("_index")
                                           else jnp.float32) for k in hp}
    config, sampler = group.config, group.source.sample

    def one(state, hp):
        gan = run_gan(group, {**group.constants, **hp})
        return jax.vmap(lambda s: steps.train_step(gan, s, None, local_batch=config.batch_size,
                                                   sampler=sampler),
                        axis_name=steps.AXIS)(jax.tree.map(lambda x: x[None], state))

    jaxpr = jax.make_jaxpr(one)(abstract, hp_abstract)
    activations = 0

    def walk(jp):
        nonlocal activations
        for eqn in jp.eqns:
            for v in eqn.outvars:
                aval = getattr(v, "aval", None)
                if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                    activations += int(np.prod(aval.shape)) * getattr(aval.dtype, "itemsize", 8)
            for value in eqn.params.values():
                for sub in value if isinstance(value, tuple | list) else (value,):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(jaxpr.jaxpr)
    return _nbytes(abstract) * len(group), activations * len(group)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def describe_plan(groups: Sequence[Group]) -> list[str]:
    """The lines of the plan: one per group (runs, what varies, memory), then the total."""
    lines, total = [], 0
    for g, group in enumerate(groups, 1):
        state_bytes, act_bytes = memory_estimate(group)
        total += state_bytes + act_bytes
        varying = sorted(group.varying)
        if len(group.loss_names) > 1:
            varying = [n for n in varying if n != "loss_index"] + [
                f"loss ({len(group.loss_names)} entries, lax.switch)"]
        variants = sorted({m.run["variant"] for m in group.members})
        c = group.config
        lines.append(
            f"vmap group {g}: {len(group)} runs ({len(variants)} "
            f"variant{'s' if len(variants) > 1 else ''}), "
            f"data {c.data.name}, batch {c.batch_size}, n_disc {c.n_disc}, unroll "
            f"{c.unroll_steps}, {c.num_steps} steps; carried per run: "
            f"{', '.join(varying) or 'seed only'}; memory ~{_mib(state_bytes)} state + "
            f"<= {_mib(act_bytes)} activations")
    lines.append(f"vmap plan: {sum(len(g) for g in groups)} runs in {len(groups)} compiled "
                 f"groups, memory estimate <= {_mib(total)}; each group spread over up to "
                 f"{jax.local_device_count()} {jax.default_backend()} device(s)")
    return lines


# --- running a group ------------------------------------------------------------------------


def _boundaries(config) -> list[int]:
    every = [config.log_every, config.sample_every, config.checkpoint_every]
    if config.eval_every:
        every.append(config.eval_every)
    return [int(e) for e in every if e and e > 0]


def _next_stop(config, step: int) -> int:
    """The first step after ``step`` at which some output is due (or the last step)."""
    stops = [(step // e + 1) * e for e in _boundaries(config)]
    return min([*stops, config.num_steps, step + MAX_CHUNK])


def use_cpu_cores() -> None:
    """One XLA CPU device per core this process may use, when JAX's backends have not
    started and ``XLA_FLAGS`` does not set a device count (then: nothing). Accelerators are
    untouched: on a GPU or TPU host the runs spread over those devices."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        jax.config.update("jax_num_cpu_devices", len(os.sched_getaffinity(0)))
    except RuntimeError:  # a JAX computation already ran: the device count is fixed
        pass


def _spreader(n_runs: int) -> tuple[int, Callable]:
    """(devices used, ``spread``): ``spread(tree)`` pads the run axis of every leaf to a
    multiple of the devices (repeating run 0) and shards it over them."""
    devices = jax.local_devices()[:max(1, min(n_runs, jax.local_device_count()))]
    pad = -n_runs % len(devices)
    sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), ("runs",)),
                                          jax.sharding.PartitionSpec("runs"))

    def spread(tree):
        if pad:
            tree = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[:1], pad, 0)]),
                                tree)
        return jax.device_put(tree, sharding)
    return len(devices), spread


def _take(tree, rows: Sequence[int]):
    idx = jnp.asarray(rows, jnp.int32)
    return jax.tree.map(lambda x: x[idx], tree)


def _put(tree, rows: Sequence[int], sub):
    idx = jnp.asarray(rows, jnp.int32)
    return jax.tree.map(lambda x, s: x.at[idx].set(s), tree, sub)


def _unstack(host_tree, i: int):
    return jax.tree.map(lambda x: jnp.asarray(x[i]), host_tree)


@jax.jit
def _finite_rows(states) -> jax.Array:
    """[S] bool: every parameter of G and D finite, per run."""
    leaves = jax.tree.leaves((states.g_params, states.d_params))
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1)
                              for x in leaves]), axis=0)


class _RunIO:
    """The outputs of one run of a group: writer, checkpointers, evaluation, best."""

    def __init__(self, member: Member):
        from gan_jax import train

        config = member.config
        self.member, self.config = member, config
        self.ckpt = checkpointing.Checkpointer(os.path.join(member.workdir, "checkpoints"),
                                               config.max_checkpoints)
        self.start_step = 0  # set when a checkpoint is restored
        self.writer = MetricWriter(member.workdir)
        self.evaluation = (evaluate_lib.Evaluation(config, member.gan)
                           if config.eval_every else None)
        self.best_ckpt, self.best = train._open_best(config, member.workdir, self.evaluation)
        self.pending: list[dict[str, float]] = []
        self.last_log_step = 0
        self.error: str | None = None
        n = (config.num_toy_samples if len(member.gan.data_shape) == 1
             else config.num_samples)
        self.picture_z = sampling.fixed_latents(config.seed, sampling.PICTURES,
                                                (n, member.gan.latent_dim))
        self.eval_z = (None if self.evaluation is None
                       else self.evaluation.z[:self.evaluation.n])
        examples = config.batch_size // jax.process_count() * config.n_disc
        self.meta = lambda step: {"step": step,
                                  "examples_consumed_per_process": step * examples,
                                  "config": json.loads(config.to_json())}

    def close(self) -> None:
        for manager in (self.ckpt, self.best_ckpt):
            if manager is not None:
                manager.wait()
                manager.close()
        self.writer.close()


def _generate(gan: state_lib.GAN):
    """Jitted ``(stacked states, z [S, N, latent]) -> samples [S, N, *data_shape]``."""
    def one(state, z):
        return gan.g_apply(state_lib.sampling_params(state), state.g_batch_stats, z, None)
    return jax.jit(jax.vmap(one))


class _GroupRunner:
    """Trains one group to its last step, writing every run's outputs."""

    def __init__(self, group: Group, log: Callable[[str], None]):
        self.group, self.log = group, log
        self.chunk = make_chunk(group)
        # Time in the compiled chunks (the first one compiles) and run-steps they made.
        self.stats = {"runs": len(group), "chunk_seconds": 0.0, "chunk_cpu_seconds": 0.0,
                      "run_steps": 0}
        self.generate = _generate(group.gan)
        self._discriminate = jax.jit(
            lambda p, s, x: jax.nn.sigmoid(group.gan.d_apply(p, s, x)))

    def _init(self) -> tuple[Any, list[_RunIO]]:
        states, ios = [], []
        for m in self.group.members:
            workdir_lib.check_workdir(m.config, m.workdir, restart=False)
            state = state_lib.init_state(m.gan, m.config.seed)
            io = _RunIO(m)
            restored = io.ckpt.restore_latest(state)
            if restored is not None:
                state, meta = restored
                io.start_step = io.last_log_step = int(meta["step"])
                workdir_lib.truncate_metrics(m.workdir, io.start_step)
            with open(os.path.join(m.workdir, "config.json"), "w") as f:
                f.write(m.config.to_json(indent=2))
            states.append(state)
            ios.append(io)
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
        return stacked, ios

    def run(self) -> tuple[Any, list[_RunIO], bool, float]:
        """(final stacked states, per-run IO, stopped by a signal, seconds)."""
        start_time = time.perf_counter()
        states, ios = self._init()
        config = self.group.config
        self.stats["devices"], self.spread = _spreader(len(self.group))
        states, hp_all = self.spread((states, self.group.hp_arrays()))
        step_of = [io.start_step for io in ios]
        last_log_time = time.perf_counter()
        stopped = False
        try:
            with preemption.PreemptionWatcher() as watcher:
                while True:
                    # A run that failed goes on inside the group (its outputs are skipped),
                    # so the group keeps its one compiled shape.
                    active = [i for i, s in enumerate(step_of) if s < config.num_steps]
                    if all(ios[i].error is not None for i in active):
                        break
                    low = min(step_of[i] for i in active)
                    movers = [i for i in active if step_of[i] == low]
                    ahead = [step_of[i] for i in active if step_of[i] > low]
                    stop = min([_next_stop(config, low), *ahead])
                    length = stop - low
                    t0, cpu0 = time.perf_counter(), time.process_time()
                    if len(movers) == len(ios):
                        states, metrics = self.chunk(states, hp_all, length)
                    else:  # catching up after an uneven resume
                        sub, metrics = self.chunk(_take(states, movers),
                                                  {k: v[jnp.asarray(movers)]
                                                   for k, v in hp_all.items()}, length)
                        states = _put(states, movers, sub)
                    fetched = jax.device_get(metrics)
                    self.stats["chunk_seconds"] += time.perf_counter() - t0
                    self.stats["chunk_cpu_seconds"] += time.process_time() - cpu0
                    self.stats["run_steps"] += length * len(movers)
                    for j, i in enumerate(movers):
                        step_of[i] = stop
                        if ios[i].error is None:
                            ios[i].pending.extend({k: v[t, j] for k, v in fetched.items()}
                                                  for t in range(length))
                    preempted = watcher.reached(stop)
                    last_log_time = self._outputs(states, ios, movers, stop, preempted,
                                                  last_log_time)
                    if preempted:
                        stopped = True
                        self.log(f"vmap: stopped by {watcher.signal_name} at step {stop}; "
                                 "checkpoints written, rerun the sweep to resume")
                        break
        finally:
            for io in ios:
                io.close()
        return states, ios, stopped, time.perf_counter() - start_time

    def _outputs(self, states, ios: list[_RunIO], movers: list[int], step: int,
                 preempted: bool, last_log_time: float) -> float:
        """Logs, samples, evaluates and saves the runs in ``movers`` at ``step``."""
        config = self.group.config
        last = step == config.num_steps
        log = step % config.log_every == 0 or last
        save = step % config.checkpoint_every == 0 or last or preempted
        sample = step % config.sample_every == 0 or last
        evaluate = bool(config.eval_every) and (step % config.eval_every == 0 or last)
        if not (log or save or sample or evaluate):
            return last_log_time
        finite = np.asarray(_finite_rows(states)) if (log or save or evaluate) else None
        host = jax.device_get(states) if (save or evaluate or sample) else None
        pictures = evaluations = None
        now = time.perf_counter()
        if sample:
            pictures = np.asarray(self.generate(
                states, self.spread(jnp.stack([io.picture_z for io in ios]))))
        if evaluate:
            eval_start = time.perf_counter()
            evaluations = np.asarray(self.generate(
                states, self.spread(jnp.stack([io.eval_z for io in ios]))))
            generation_seconds = (time.perf_counter() - eval_start) / len(ios)
        for i in movers:
            io = ios[i]
            if io.error is not None:
                continue
            m = io.member
            if finite is not None:
                io.error = self._divergence(io, step, bool(finite[i]))
                if io.error is not None:
                    continue
            scalars: dict[str, float] = {}
            if log:
                scalars = {k: float(np.mean([r[k] for r in io.pending])) for k in io.pending[0]}
                scalars["steps_per_sec"] = (step - io.last_log_step) / (now - last_log_time)
                io.last_log_step, io.pending = step, []
            state_i = _unstack(host, i) if host is not None else None
            if sample:
                scalars.update(self._picture(m, state_i, pictures[i], step))
            text = {}
            if evaluate:
                t0 = time.perf_counter()
                raw = io.evaluation.evaluator(evaluations[i])
                evaluated = {evaluate_lib.PREFIX + k: float(v) for k, v in raw.items()}
                evaluated["eval_seconds"] = generation_seconds + time.perf_counter() - t0
                scalars.update(evaluated)
                text = {"eval_reference": io.evaluation.reference_key}
                scalars["eval_samples"] = float(io.evaluation.n)
            if scalars:
                io.writer.write_scalars(step, scalars, text)
            if save:
                io.ckpt.save(step, state_i, io.meta(step))
            if evaluate and io.best is not None and io.best.improves(evaluated):
                from gan_jax import train

                train._save_best(io.best_ckpt, io.best, step, state_i, io.meta(step), evaluated)
        # Time spent on outputs does not count in the next steps_per_sec.
        return time.perf_counter() if log else last_log_time + (time.perf_counter() - now)

    def _picture(self, m: Member, state, samples: np.ndarray, step: int) -> dict[str, float]:
        directory = os.path.join(m.workdir, "samples")
        os.makedirs(directory, exist_ok=True)
        d_fn = None
        if samples.shape[-1] == 1 and samples.ndim == 2 and not m.gan.num_classes:
            def d_fn(x):
                return np.asarray(self._discriminate(state.d_params, state.d_batch_stats,
                                                     jnp.asarray(x, jnp.float32)))
        plotting.save_samples(samples, m.source, os.path.join(directory, f"step_{step:07d}.png"),
                              title=f"step {step}", d_fn=d_fn)
        mixture = getattr(m.source, "mixture", None)
        if mixture is None:
            return {}
        return {k: float(v) for k, v in modes.mode_stats(samples, mixture).items()}

    @staticmethod
    def _divergence(io: _RunIO, step: int, params_finite: bool) -> str | None:
        first = step - len(io.pending) + 1
        for t, row in enumerate(io.pending):
            bad = next((k for k, v in row.items() if not np.all(np.isfinite(v))), None)
            if bad is not None:
                where = f"{bad} is {float(row[bad])} at step {first + t}"
                break
        else:
            if params_finite:
                return None
            where = f"parameters hold non-finite values at step {step}"
        io.ckpt.wait()
        good = io.ckpt.latest_step()
        kept = (f"the last good checkpoint, step {good}, is intact in {io.ckpt.step_path(good)}"
                if good is not None else "no checkpoint had been written yet")
        return f"{DivergenceError.__name__}: training diverged: {where}; {kept}"


# --- the backend ----------------------------------------------------------------------------


def load_members(config_path: str, todo: Sequence[Mapping[str, Any]]
                 ) -> tuple[list[Member], list[tuple[int, Mapping[str, Any], str]]]:
    """(members, refused) for the runs of ``todo``; a run whose config fails to build is
    refused with its one-line error. ConfigError when a run's data is read on the host."""
    members, refused = [], []
    for i, run in enumerate(todo, 1):
        try:
            config = runs_lib.load_config(config_path)
            sweep_runs.apply_overrides(config, run["overrides"])
        except (ValueError, KeyError) as e:
            refused.append((i, run, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        if config.data.name not in TOY_DATA:
            raise ConfigError(
                f"the vmap backend trains toy mixtures drawn inside the step "
                f"({', '.join(TOY_DATA)}); config.data.name={config.data.name!r} is read on "
                "the host: use --backend local")
        try:
            source, gan = runs_lib.build(config, num_devices=1, axis_name=steps.AXIS)
        except (ValueError, KeyError) as e:
            refused.append((i, run, f"{type(e).__name__}: {e}".splitlines()[0]))
            continue
        if not source.in_step:  # reached only by a source added without a SOURCES entry
            raise ConfigError(
                f"the vmap backend trains toy mixtures drawn inside the step (ring8, grid25, "
                f"gauss1d ...); config.data.name={config.data.name!r} is read on the host: "
                "use --backend local")
        members.append(Member(i, run, config, source, gan))
    return members, refused


def run_runs(config_path: str, todo: list[dict], report, log,
             stats: list[dict[str, Any]] | None = None) -> None:
    """Trains the runs of ``todo`` (``gan_jax.sweep.plan`` entries) group by group.

    ``report(i, run, record or None, error)`` is called once for each run that finishes
    or fails (i counts from 1 in ``todo``'s order); a SIGTERM/SIGINT saves the running
    group's checkpoints and raises :class:`gan_jax.sweep_runs.RunStopped` (runs not finished are
    not reported, and later groups do not start). ``stats``, when given, receives one dict
    per group trained: runs, seconds (the group's wall time), chunk_seconds and
    chunk_cpu_seconds (wall and CPU time of this process in the compiled steps,
    compilation included) and run_steps (train steps summed over runs).
    """
    from gan_jax.compilation import use_compilation_cache

    members, refused = load_members(config_path, todo)
    for i, run, error in refused:
        report(i, run, None, error)
    if not members:
        return
    groups = group_runs(members)
    for line in describe_plan(groups):
        log(line)
    use_compilation_cache(members[0].config.compilation_cache_dir)
    for g, group in enumerate(groups, 1):
        earlier = [sweep_runs.earlier_seconds(m.workdir) for m in group.members]
        for m in group.members:
            os.makedirs(m.workdir, exist_ok=True)
        runner = _GroupRunner(group, log)
        try:
            states, ios, stopped, seconds = runner.run()
            if stats is not None:
                stats.append({**runner.stats, "seconds": seconds})
        except Exception as e:  # noqa: BLE001  (a group that fails reports its runs)
            error = f"{type(e).__name__}: {e}".splitlines()[0]
            for m in group.members:
                _append_log(m.workdir, f"vmap group {g} failed: {error}")
                report(m.index, m.run, None, error)
            continue
        reached = np.asarray(jax.device_get(states.step))
        for j, (m, io) in enumerate(zip(group.members, ios, strict=True)):
            total = earlier[j] + seconds
            sweep_runs.write_json(os.path.join(m.workdir, sweep_runs.SECONDS_FILE),
                             {"run_seconds": total})
            if io.error is not None:
                _append_log(m.workdir, io.error)
                report(m.index, m.run, None, io.error)
                continue
            if stopped:
                _append_log(m.workdir, f"Stopped at step {int(reached[j])} (vmap group {g}); "
                            "rerun the sweep to resume")
                continue
            _append_log(m.workdir, f"Trained to step {int(reached[j])} in vmap group {g} "
                        f"({len(group)} runs, {seconds:.1f} s); outputs in {m.workdir}")
            record = {"overrides": m.run["overrides"], "run_seconds": total,
                      "metrics": sweep_runs.final_metrics(m.workdir)}
            sweep_runs.write_json(os.path.join(m.workdir, sweep_runs.RESULT_FILE), record)
            report(m.index, m.run, record, "")
        if stopped:
            raise sweep_runs.RunStopped(f"vmap group {g} stopped at step {int(reached.min())}; "
                                   "rerunning the sweep resumes it")


def _append_log(workdir: str, line: str) -> None:
    with open(os.path.join(workdir, "log.txt"), "a") as f:
        f.write(line + "\n")
