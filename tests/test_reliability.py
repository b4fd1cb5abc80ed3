"""Faults a long run meets: preemption, SIGKILL, damaged checkpoints, NaNs, bad workdirs.

Each fault test runs the command line (``python -m gan_jax.main``) on a tiny ring8
MLP as a subprocess it started, and signals only that process.
"""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax import checkpointing, runs, state as state_lib
from gan_jax.configs import ConfigError
from gan_jax.train import DivergenceError, train_and_evaluate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RING8 = os.path.join(ROOT, "experiments", "configs", "ring8.py")


def command(workdir, num_steps, checkpoint_every=5, *extra):
    return [sys.executable, "-m", "gan_jax.main", "--config", RING8, "--workdir", str(workdir),
            "--config.model.hidden=16", "--config.model.depth=2", "--config.batch_size=32",
            f"--config.num_steps={num_steps}", f"--config.checkpoint_every={checkpoint_every}",
            f"--config.log_every={checkpoint_every}", f"--config.sample_every={10**6}",
            "--config.num_toy_samples=100", "--config.progress_bar=False", *extra]


# The subprocesses share a persistent compilation cache: only the first one compiles.
CACHE = os.path.join("/tmp", f"gan_jax_test_cache_{os.getuid()}")


def env(**extra):
    e = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, PYTHONUNBUFFERED="1",
             JAX_COMPILATION_CACHE_DIR=CACHE,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    e.pop("XLA_FLAGS", None)
    e.update(extra)
    return e


def run(cmd, timeout=120, env_extra=None):
    e = env(**(env_extra or {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT,
                          check=False)


def start(cmd):
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), cwd=ROOT)


def finished_steps(workdir):
    path = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(path):
        return []
    return sorted(int(n) for n in os.listdir(path) if n.isdigit())


def wait_for(predicate, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def small_config(num_steps=10, checkpoint_every=5):
    """The config that ``command(workdir, num_steps, checkpoint_every)`` runs."""
    c = runs.load_config(RING8)
    c.model.hidden, c.model.depth, c.batch_size = 16, 2, 32
    c.num_steps, c.checkpoint_every, c.log_every = num_steps, checkpoint_every, checkpoint_every
    c.sample_every, c.num_toy_samples, c.progress_bar = 10**6, 100, False
    return c


def restore_final(workdir):
    """The newest checkpoint of ``workdir`` as numpy arrays."""
    c = small_config()
    template = state_lib.init_state(state_lib.make_gan(c, (2,)), c.seed)
    ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"))
    state, meta = ckpt.restore(ckpt.latest_step(), template)
    ckpt.close()
    return jax.device_get(state), meta


def assert_identical(a, b):
    same = jax.tree.map(np.array_equal, a, b)
    assert all(jax.tree.leaves(same))


def test_sigterm_saves_exits_0_and_the_rerun_resumes(tmp_path):
    workdir = tmp_path / "run"
    proc = start(command(workdir, 10**6))
    try:
        wait_for(lambda: finished_steps(workdir), proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    match = re.search(r"Stopped by SIGTERM after step (\d+): checkpoint written to (\S+); "
                      "rerun the same command to resume", out)
    assert match, out
    step = int(match.group(1))
    assert match.group(2) == os.path.join(str(workdir), "checkpoints", str(step))
    assert finished_steps(workdir)[-1] == step
    again = run(command(workdir, step + 3))
    assert again.returncode == 0, again.stderr
    assert f"Resuming from the checkpoint of step {step} in" in again.stdout
    assert finished_steps(workdir)[-1] == step + 3


def temporary_dirs(workdir):
    path = os.path.join(workdir, "checkpoints")
    return [n for n in os.listdir(path) if "tmp" in n] if os.path.isdir(path) else []


def test_sigkill_at_random_moments_resumes_bit_identical(tmp_path):
    """SIGKILL three times (twice while a checkpoint is being written), resume, compare."""
    num_steps, every = 40, 2
    straight = train_and_evaluate(small_config(num_steps, every), str(tmp_path / "straight"))
    workdir = str(tmp_path / "killed")
    rng = random.Random(8)
    resumed_from, killed_mid_write = [], 0
    for during_write in (True, False, True):
        before = finished_steps(workdir)
        proc = start(command(workdir, num_steps, every))
        newest = before[-1:]
        try:
            wait_for(lambda n=newest: finished_steps(workdir)[-1:] > n, proc)
            if during_write:
                wait_for(lambda p=proc: temporary_dirs(workdir) or p.poll() is not None, proc)
            else:
                time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        killed_mid_write += bool(temporary_dirs(workdir))
        if before:
            assert f"Resuming from the checkpoint of step {before[-1]} in" in out
            resumed_from.append(before[-1])
    assert killed_mid_write >= 1, "no kill landed during a checkpoint write"
    final = run(command(workdir, num_steps, every))
    assert final.returncode == 0, final.stderr
    assert "Resuming from the checkpoint of step" in final.stdout
    state, meta = restore_final(workdir)
    assert meta["step"] == num_steps
    assert_identical(jax.device_get(straight), state)


def test_truncated_latest_checkpoint_falls_back_with_a_warning(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    train_and_evaluate(small_config(10, 5), workdir)
    damaged = os.path.join(workdir, "checkpoints", "10")
    files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(damaged, "state"))
             for f in fs]
    biggest = max(files, key=os.path.getsize)
    with open(biggest, "r+b") as f:
        f.truncate(os.path.getsize(biggest) // 2)
    capsys.readouterr()
    state = train_and_evaluate(small_config(10, 5), workdir)
    captured = capsys.readouterr()
    moved = os.path.join(workdir, "damaged_checkpoints", "10")
    assert (f"warning: the checkpoint of step 10 in {damaged} is damaged" in captured.err
            and f"moved it to {moved}; falling back to the checkpoint of step 5"
            in captured.err), captured.err
    assert "Resuming from the checkpoint of step 5" in captured.out
    assert os.path.isdir(moved), "the damaged checkpoint is kept"
    assert int(state.step) == 10 and finished_steps(workdir) == [5, 10]


def test_divergence_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path):
    workdir = str(tmp_path / "run")
    train_and_evaluate(small_config(5, 5), workdir)
    good, _ = restore_final(workdir)
    c = small_config(40, 5)
    c.optim.g.lr = c.optim.d.lr = 1e30  # blows up within a few steps
    with pytest.raises(DivergenceError) as info:
        train_and_evaluate(c, workdir)
    message = str(info.value)
    match = re.search(r"training diverged: (\w+) (is \S+|hold non-finite values) at step (\d+); "
                      r"stopped without saving; the last good checkpoint, step 5, is intact",
                      message)
    assert match and "\n" not in message, message
    assert 5 < int(match.group(3)) <= 10
    assert finished_steps(workdir) == [5]
    assert_identical(good, restore_final(workdir)[0])


def test_workdir_of_an_incompatible_run_is_refused_until_restart(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    train_and_evaluate(small_config(5, 5), workdir)
    c = small_config(10, 5)
    c.model.hidden = 32
    with pytest.raises(ConfigError) as info:
        train_and_evaluate(c, workdir)
    assert str(info.value) == (
        f"workdir {workdir!r} holds a run made with config.model.hidden=16 (its config.json), "
        "not 32; use another workdir, or --restart to move that run aside and start over")
    assert finished_steps(workdir) == [5]
    capsys.readouterr()
    state = train_and_evaluate(c, workdir, restart=True)
    assert "Starting over: the previous run's outputs were moved to" in capsys.readouterr().out
    assert int(state.step) == 10
    previous = os.listdir(os.path.join(workdir, "previous_runs"))
    assert finished_steps(os.path.join(workdir, "previous_runs", previous[0])) == [5]


def test_unwritable_workdir_is_one_error_before_any_compile(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("user data")
    with pytest.raises(ConfigError, match=r"workdir '.*a_file/run' cannot be written: "):
        train_and_evaluate(small_config(5, 5), str(blocker / "run"))
    assert blocker.read_text() == "user data"


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def two_processes(cmd, timeout=120):
    """Runs ``cmd`` as processes 0 and 1 of one jax.distributed job on localhost and
    returns their (stdout, stderr) after both exit 0; a process still running after
    ``timeout`` s is killed, so a hang fails with the output so far rather than stalling."""
    port = free_port()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env(JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                                                JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)))
             for i in range(2)]
    deadline = time.monotonic() + timeout
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            outs.append((out, err + f"\n[killed after {timeout} s]"))
    assert [p.returncode for p in procs] == [0, 0], [err[-3000:] for _, err in outs]
    return outs


# Two processes, each with both checkpoint managers of a run, start saves of the same steps
# at once, each process at its own pace: the two managers' barriers must not meet.
TWO_MANAGERS = """
import os, sys, time
import numpy as np
from gan_jax import checkpointing, train_cli
train_cli._initialize_distributed()
regular = checkpointing.Checkpointer(os.path.join(sys.argv[1], "checkpoints"))
best = checkpointing.Checkpointer(os.path.join(sys.argv[1], "best_checkpoint"), 1)
state = {"w": np.arange(1000, dtype=np.float32)}
pause = np.random.default_rng(int(os.environ["JAX_PROCESS_ID"]))
for step in range(1, 21):
    regular.save(step, state, {"step": step})
    time.sleep(pause.uniform(0, 0.05))
    best.save(step, state, {"step": step})
for manager in (regular, best):
    manager.wait()
    manager.close()
print("saved", regular.all_steps(), best.all_steps())
"""


def test_two_processes_save_both_checkpoint_managers_at_the_same_steps(tmp_path):
    outs = two_processes([sys.executable, "-c", TWO_MANAGERS, str(tmp_path)])
    assert all("saved [18, 19, 20] [20]" in out for out, _ in outs)


def test_two_processes_train_what_one_process_with_two_devices_trains(tmp_path):
    one = run(command(tmp_path / "one", 6, 3),
              env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert one.returncode == 0, one.stderr
    workdir = tmp_path / "two"
    outs = two_processes(command(workdir, 6, 3))
    assert "Trained to step 6" in outs[0][0]
    two, meta = restore_final(str(workdir))
    assert meta["step"] == 6
    reference, _ = restore_final(str(tmp_path / "one"))
    diff = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) - b))),
                        reference, two)
    assert max(jax.tree.leaves(diff)) < 1e-6, diff


@pytest.mark.parametrize("wrapped", [False, True])
def test_full_disk_is_one_error_and_the_earlier_checkpoint_stays(tmp_path, monkeypatch, wrapped):
    # The disk fills up while the checkpoint of step 10 is written. Orbax's writers run in
    # C++ and threads, so the failure is injected where the manager starts the save; the
    # second case wraps the OSError the way an async writer reports it.
    import errno

    import orbax.checkpoint as ocp

    workdir = str(tmp_path / "run")
    train_and_evaluate(small_config(5, 5), workdir)
    good, _ = restore_final(workdir)

    def full_disk(self, step, *args, **kwargs):
        error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if not wrapped:
            raise error
        raise RuntimeError(f"async save of step {step} failed") from error

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_disk)
    with pytest.raises(checkpointing.CheckpointError) as info:
        train_and_evaluate(small_config(10, 5), workdir)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write the checkpoint of step 10 in {workdir}")
    assert "No space left on device" in message
    assert "the checkpoint of step 5 is intact" in message and "rerun the same command" in message
    monkeypatch.undo()
    assert finished_steps(workdir) == [5]
    assert_identical(good, restore_final(workdir)[0])
