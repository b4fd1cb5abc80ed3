"""The vmap sweep backend: a group of runs trained as one program equals the runs trained
alone, resumes bit-exactly, groups by program shape and refuses data read on the host.

Tolerances: parameters of a vmapped run match ``train_and_evaluate`` of the same config to
1e-5 (absolute) after 10 steps (XLA batches the runs' products, so float rounding may
differ; measured ~6e-8); logged losses to 1e-4 relative; a resumed group matches the group
trained without a stop bit for bit.
"""

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import (
    checkpointing,
    preemption,
    runs,
    state as state_lib,
    sweep as sweep_lib,
    sweep_vmap,
    train,
)
from gan_jax.errors import ConfigError

HERE = os.path.dirname(__file__)
RING8 = os.path.abspath(os.path.join(HERE, "..", "experiments", "configs", "ring8.py"))
STEPS = 10

# Three groups: two losses and a clipping bound (1); two losses, two D learning rates and
# two gradient-penalty weights (2); a lazy R1 (3), whose period reaches the program.
SWEEP = dict(
    config=RING8,
    overrides={"num_steps": STEPS, "batch_size": 32, "model.hidden": 16, "model.depth": 2,
               "log_every": 5, "sample_every": 10, "checkpoint_every": 5, "eval_every": 10,
               "num_toy_samples": 200, "progress_bar": False},
    variants=[("nonsaturating", {"loss": "nonsaturating"}),
              ("wasserstein+gp", {"loss": "wasserstein", "penalty": "gp",
                                  "penalty_weight": 0.1, "optim.d.lr": 5e-4}),
              ("wasserstein+clip", {"loss": "wasserstein", "clip_weights": 0.01}),
              ("hinge+gp", {"loss": "hinge", "penalty": "gp", "penalty_weight": 1.0}),
              ("nonsaturating+lazy_r1", {"loss": "nonsaturating",
                                         "regularizers": {"r1": {"weight": 1.0, "every": 4}}})],
    seeds=[0],
)


def _config(overrides):
    config = runs.load_config(RING8)
    sweep_lib.apply_overrides(config, overrides)
    return config


def _state(run):
    config = _config(run["overrides"])
    _, gan = runs.build(config)
    template = state_lib.init_state(gan, config.seed)
    ckpt = checkpointing.Checkpointer(os.path.join(run["workdir"], "checkpoints"), create=False)
    state, meta = ckpt.restore_latest(template)
    ckpt.close()
    return state, int(meta["step"])


def _rows(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def _run(todo, logs=None):
    reports = []
    sweep_vmap.run_runs(RING8, todo, lambda i, run, record, error: reports.append(
        (i, run["variant"], record, error)), (logs if logs is not None else []).append)
    return reports


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """The sweep trained by the vmap backend: (plan entries, reports, log lines)."""
    root = str(tmp_path_factory.mktemp("vmap"))
    todo = sweep_lib.plan(SWEEP, root)
    logs = []
    reports = _run(todo, logs)
    return todo, reports, logs


def test_plan_is_printed_and_every_run_reports_a_result_json(group):
    todo, reports, logs = group
    assert logs[0].startswith("vmap group 1: 2 runs (2 variants), data ring8, batch 32")
    assert "clip_weights" in logs[0] and "loss (2 entries, lax.switch)" in logs[0]
    assert logs[1].startswith("vmap group 2: 2 runs (2 variants)")
    assert "optim.d.lr" in logs[1] and "reg0_weight" in logs[1]
    assert logs[2].startswith("vmap group 3: 1 runs (1 variant)")
    assert "MiB state" in logs[0] and "vmap plan: 5 runs in 3 compiled groups" in logs[3]
    assert sorted(i for i, *_ in reports) == [1, 2, 3, 4, 5]
    for (_, variant, record, error), run in zip(sorted(reports, key=lambda r: r[0]), todo,
                                                strict=True):
        assert error == "" and variant == run["variant"]
        with open(os.path.join(run["workdir"], "result.json")) as f:
            assert json.load(f) == record
        assert record["metrics"]["step"] == STEPS and record["overrides"] == run["overrides"]
        assert record["run_seconds"] > 0
        assert os.path.exists(os.path.join(run["workdir"], "run_seconds.json"))
        assert os.path.exists(os.path.join(run["workdir"], "samples", "step_0000010.png"))


def test_each_run_of_the_group_equals_the_run_trained_alone(group, tmp_path):
    todo, _, _ = group
    for run in todo:
        alone = train.train_and_evaluate(_config(run["overrides"]),
                                         str(tmp_path / run["variant"]))
        vmapped, step = _state(run)
        assert step == STEPS
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(vmapped), strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-5)
        rows_alone, rows_vmap = _rows(tmp_path / run["variant"]), _rows(run["workdir"])
        assert [r["step"] for r in rows_vmap] == [r["step"] for r in rows_alone] == [5, 10]
        for ra, rv in zip(rows_alone, rows_vmap, strict=True):
            assert sorted(ra) == sorted(rv), run["variant"]  # the same metrics, penalty incl.
            for key in ("d_loss", "g_loss", "d_real", "penalty"):
                if key in ra:
                    np.testing.assert_allclose(rv[key], ra[key], rtol=1e-4, atol=1e-6)
        assert rows_vmap[-1]["eval_reference"] == rows_alone[-1]["eval_reference"]
        assert ("penalty" in rows_vmap[-1]) == ("gp" in run["variant"] or "r1" in run["variant"])
        assert os.path.isdir(os.path.join(run["workdir"], "best_checkpoint", str(STEPS)))


def test_a_stopped_group_resumes_bit_exactly_and_an_uneven_one_catches_up(
        group, tmp_path, monkeypatch):
    todo_ref, _, _ = group
    todo_ref = [run for run in todo_ref if run["variant"].endswith("+gp")]  # group 2
    todo = sweep_lib.plan({**SWEEP, "variants": [v for v in SWEEP["variants"]
                                                  if v[0].endswith("+gp")]}, str(tmp_path))
    original = preemption.PreemptionWatcher.reached

    def sigterm_at_5(self, step):
        if step >= 5:
            self.signal_name = "SIGTERM"
        return original(self, step)

    monkeypatch.setattr(preemption.PreemptionWatcher, "reached", sigterm_at_5)
    with pytest.raises(sweep_lib.RunStopped, match="stopped at step 5"):
        assert _run(todo) == []  # a stopped run is not reported
    for run in todo:
        assert _state(run)[1] == 5 and not os.path.exists(os.path.join(run["workdir"],
                                                                       "result.json"))
    monkeypatch.setattr(preemption.PreemptionWatcher, "reached", original)
    assert all(error == "" for *_, error in _run(todo))
    for run, ref in zip(todo, todo_ref, strict=True):
        for a, b in zip(jax.tree.leaves(_state(ref)[0]), jax.tree.leaves(_state(run)[0]),
                        strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert [r["step"] for r in _rows(run["workdir"])] == [5, 10]

    # A SIGKILL while the group saved step 10: one run kept only its step-5 checkpoint.
    late = todo[1]
    shutil.rmtree(os.path.join(late["workdir"], "checkpoints", str(STEPS)))
    os.remove(os.path.join(late["workdir"], "result.json"))
    reports = _run([late])
    assert [(i, v, e) for i, v, _, e in reports] == [(1, late["variant"], "")]
    for a, b in zip(jax.tree.leaves(_state(todo_ref[1])[0]), jax.tree.leaves(_state(late)[0]),
                    strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-6)
    assert [r["step"] for r in _rows(late["workdir"])] == [5, 10]


def test_a_group_spread_over_two_devices_equals_the_group_on_one(group, tmp_path):
    """`gan_jax.sweep --backend vmap` on a host with two CPU devices: three runs of one
    program padded to four and sharded two per device train what one device trains."""
    todo_ref, _, _ = group
    variants = [v for v in SWEEP["variants"] if v[0] in ("nonsaturating", "wasserstein+clip")]
    sweep = dict(SWEEP, variants=variants + [("hinge", {"loss": "hinge"})])
    (tmp_path / "sweep.py").write_text(f"def get_sweep():\n    return {sweep!r}\n")
    out = subprocess.run(
        [sys.executable, "-m", "gan_jax.sweep", "--sweep", str(tmp_path / "sweep.py"),
         "--workdir", str(tmp_path / "w"), "--backend", "vmap"],
        env=dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "each group spread over up to 2 cpu device(s)" in out.stdout + out.stderr
    todo = sweep_lib.plan(sweep, str(tmp_path / "w"))
    for run in todo[:2]:
        ref = next(r for r in todo_ref if r["variant"] == run["variant"])
        (spread, step), (alone, _) = _state(run), _state(ref)
        assert step == STEPS
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(spread), strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-5)


def test_a_diverged_run_is_reported_and_the_group_keeps_its_shape(tmp_path, monkeypatch):
    """A run that diverges (an instance-noise std of 1e30 makes D's gradient infinite at
    step 1) is reported with its step; the others finish, stepped with it in one shape."""
    def no_subgroup(*args):
        raise AssertionError("the group was split into a smaller shape")

    monkeypatch.setattr(sweep_vmap, "_take", no_subgroup)
    todo = sweep_lib.plan({**SWEEP, "variants": [
        ("ns", {"loss": "nonsaturating"}),
        ("noisy", {"loss": "nonsaturating", "instance_noise": 1e30})]}, str(tmp_path))
    reports = sorted(_run(todo))
    assert reports[0][3] == "" and reports[0][2]["metrics"]["step"] == STEPS
    assert reports[1][2] is None
    assert reports[1][3].startswith("DivergenceError: training diverged: d_grad_norm is inf at "
                                    "step 1")
    assert not os.path.exists(os.path.join(todo[1]["workdir"], "result.json"))


def test_groups_split_on_program_shape_only():
    base = SWEEP["overrides"]
    keys = {name: sweep_vmap.program_key(_config({**base, **fields})) for name, fields in [
        ("ns", {"loss": "nonsaturating", "seed": 0}),
        ("hinge_lr", {"loss": "hinge", "optim.g.lr": 3e-4, "optim.d.b1": 0.0, "seed": 4,
                      "ema_decay": 0.0, "instance_noise": 0.1}),
        ("r1", {"penalty": "r1"}),
        ("r1_weight", {"penalty": "r1", "penalty_weight": 3.0, "loss": "hinge"}),
        ("r1_lazy", {"regularizers": {"r1": {"weight": 1.0, "every": 4}}}),
        ("relativistic", {"loss": "relativistic"}),
        ("n_disc", {"n_disc": 5}),
        ("ema", {"ema_decay": 0.99}),
        ("batch", {"batch_size": 64}),
        ("schedule", {"optim.g.schedule": "linear"}),
    ]}
    assert keys["ns"] == keys["hinge_lr"] and keys["r1"] == keys["r1_weight"]
    # The regularisers (and their periods) and G's need of D(real) shape the program too.
    split = ("ns", "r1", "r1_lazy", "relativistic", "n_disc", "ema", "batch", "schedule")
    assert len({keys[k] for k in split}) == len(split)


def test_data_read_on_the_host_is_refused_in_one_line(tmp_path):
    todo = sweep_lib.plan({**SWEEP, "overrides": {**SWEEP["overrides"], "data.name": "mnist"},
                           "variants": [("a", {})]}, str(tmp_path))
    with pytest.raises(ConfigError, match="vmap backend trains toy mixtures.*--backend local"):
        _run(todo)
    assert not os.path.exists(todo[0]["workdir"])
