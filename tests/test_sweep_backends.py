"""The sweep's slurm and ray backends against the local one: same results, stops, retries.

One tiny sweep (ring-8, MLP of 16 units, 3,000 steps, 2 seeds) runs on the local backend in
this process, on SLURM through submitit's LocalExecutor (the same pickled jobs, as local
processes) and on a local Ray of 2 CPUs. Each run's final metrics must equal the local run's
exactly (same config, same seed, same CPU: the compiled programs are the same), except the
timing entries (``steps_per_sec``). Mid-run, the process training a run is signalled as the
cluster would: SLURM's stop notice (SIGUSR2, the job is checkpointed and requeued), a killed
job (SIGKILL: failed, resumed by the next sweep command), a Ray worker killed (retried).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gan_jax import cluster, sweep as sweep_lib

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, ".."))
RING8 = os.path.abspath(os.path.join(HERE, "..", "experiments", "configs", "ring8.py"))
STEPS, EVERY = 3000, 500


def tiny_sweep():
    return dict(
        config=RING8,
        overrides={"num_steps": STEPS, "batch_size": 32, "model.hidden": 16, "model.depth": 2,
                   "log_every": EVERY, "sample_every": STEPS, "checkpoint_every": EVERY,
                   "eval_every": 0, "best_metric": "none", "num_toy_samples": 200,
                   "progress_bar": False},
        variants=[("nonsaturating", {"loss": "nonsaturating"})],
        seeds=[0, 1],
        metrics=("modes_captured", "high_quality"),
    )


def untimed(metrics):
    return {k: v for k, v in metrics.items() if k != "steps_per_sec"}


@pytest.fixture(scope="module")
def local_results(tmp_path_factory):
    """{seed: final metrics} of the sweep on the local backend, in this process."""
    workdir = str(tmp_path_factory.mktemp("local"))
    rows = sweep_lib.run_sweep(tiny_sweep(), workdir, log=lambda _: None)
    assert len(rows) == 2
    return {run["seed"]: untimed(sweep_lib.final_metrics(run["workdir"]))
            for run in sweep_lib.plan(tiny_sweep(), workdir)}


def training_pid(run_workdir):
    """The process that has the run's log.txt open (the one training it), or None."""
    log = os.path.join(run_workdir, "log.txt")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == log for fd in fds):
                return int(pid)
        except OSError:  # gone, or not ours
            continue
    return None


def signal_mid_run(run_workdir, signum, sent, timeout=240):
    """Sends ``signum`` to the process training the run as soon as the run's first checkpoint
    is written (2,500 steps still to go); appends the pid signalled to ``sent``. The process
    is found first, from the log it opens at the start, so the signal follows the checkpoint
    within one poll (20 ms)."""
    first = os.path.join(run_workdir, "checkpoints", str(EVERY))
    deadline = time.monotonic() + timeout
    pid = None
    while time.monotonic() < deadline:
        pid = pid or training_pid(run_workdir)
        if pid is not None and os.path.isdir(first):
            os.kill(pid, signum)
            sent.append(pid)
            return
        time.sleep(0.02)


def resumed_from(run_workdir):
    """The step the run resumed from (its log's last "Resuming" line); asserts that it lies
    before the last logging window, whose mean losses are the final row's."""
    lines = [line for line in open(os.path.join(run_workdir, "log.txt"))
             if line.startswith("Resuming from the checkpoint of step ")]
    assert lines, "the run was not resumed"
    step = int(lines[-1].split()[6])
    assert step <= STEPS - EVERY, f"the signal came after step {step}: too late to compare"
    return step


def in_background(*calls):
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, *a in calls]
    for t in threads:
        t.start()
    return threads


def run_dirs(workdir):
    return {run["seed"]: run["workdir"] for run in sweep_lib.plan(tiny_sweep(), workdir)}


def sweep_command(*args):
    """Runs ``python -m gan_jax.sweep args`` to its end: (exit status, stdout)."""
    done = subprocess.run([sys.executable, "-m", "gan_jax.sweep", *args], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, check=False,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    return done.returncode, done.stdout + done.stderr


def test_slurm_backend_requeues_on_notice_resumes_a_killed_job_and_equals_local(
        tmp_path, local_results):
    pytest.importorskip("submitit")
    workdir = str(tmp_path / "sweep")
    dirs = run_dirs(workdir)
    sweep_file = tmp_path / "tiny.py"
    sweep_file.write_text(f"def get_sweep():\n    return {tiny_sweep()!r}\n")
    args = ["--sweep", str(sweep_file), "--workdir", workdir, "--backend", "slurm",
            "--submitit_cluster", "local", "--time", "20"]
    notified, killed = [], []
    threads = in_background((signal_mid_run, dirs[0], signal.SIGUSR2, notified),
                            (signal_mid_run, dirs[1], signal.SIGKILL, killed))
    status, out = sweep_command(*args)
    for t in threads:
        t.join()
    assert notified and killed
    assert status == 1, out  # seed 1 failed
    log1 = os.path.join(dirs[1], "log.txt")
    assert "nonsaturating seed 1: FAILED: job " in out and f"(see {log1})" in out
    assert "the job ended without a result" in out and "job log " in out
    assert "sweep: 1 runs failed: " in out
    # seed 0 was stopped by the notice, saved, requeued by submitit and resumed in its job
    log0 = open(os.path.join(dirs[0], "log.txt")).read()
    assert f"Stopped by SIGTERM after step {resumed_from(dirs[0])}:" in log0
    assert untimed(sweep_lib.final_metrics(dirs[0])) == local_results[0]
    assert not os.path.exists(os.path.join(dirs[1], sweep_lib.RESULT_FILE))

    status, out = sweep_command(*args)  # the rerun resumes the killed run only
    assert status == 0, out
    assert "2 runs (1 finished before), 1 to run" in out
    assert resumed_from(dirs[1]) >= EVERY
    assert untimed(sweep_lib.final_metrics(dirs[1])) == local_results[1]
    results = (tmp_path / "sweep" / "results.csv").read_text().splitlines()
    assert results[0].startswith("variant,seed,step,modes_captured,high_quality")
    assert len(results) == 3


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_backend_retries_a_killed_worker_and_equals_local(tmp_path, local_results,
                                                             local_ray):
    workdir = str(tmp_path / "sweep")
    dirs = run_dirs(workdir)
    killed = []
    threads = in_background((signal_mid_run, dirs[0], signal.SIGKILL, killed))
    logs = []
    options = cluster.RayOptions(num_cpus=1, max_retries=1)
    rows = sweep_lib.run_sweep(tiny_sweep(), workdir, log=logs.append, backend="ray",
                               options=options)
    threads[0].join()
    assert killed
    assert len(rows) == 2, logs
    assert resumed_from(dirs[0]) >= EVERY
    for seed in (0, 1):
        assert untimed(sweep_lib.final_metrics(dirs[seed])) == local_results[seed]
    logs.clear()
    assert sweep_lib.run_sweep(tiny_sweep(), workdir, log=logs.append, backend="ray",
                               options=options) == rows
    assert "2 runs (2 finished before), 0 to run" in logs[0]


def test_ray_run_that_raises_is_reported_with_its_log_and_not_retried(tmp_path, local_ray):
    spec = {**tiny_sweep(), "seeds": [0],
            "variants": [("bad", {"loss": "nonsaturating", "model.hidden": -1})]}
    logs = []
    rows = sweep_lib.run_sweep(spec, str(tmp_path), log=logs.append, backend="ray",
                               options=cluster.RayOptions(max_retries=2))
    assert rows == []
    run_log = os.path.join(sweep_lib.run_dir(str(tmp_path), "bad", 0), "log.txt")
    failed = [line for line in logs if "FAILED" in line]
    assert len(failed) == 1 and "bad seed 0" in failed[0] and f"(see {run_log})" in failed[0]


@pytest.mark.parametrize("backend, module", [("slurm", "submitit"), ("ray", "ray")])
def test_a_missing_extra_is_one_line_before_anything_runs(tmp_path, monkeypatch, capsys,
                                                          backend, module):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    status = sweep_lib.main(["--sweep", "missing.py", "--workdir", str(tmp_path / "w"),
                             "--backend", backend])
    name = {"slurm": "submitit", "ray": "Ray"}[backend]
    assert status == 2
    assert capsys.readouterr().err == (
        f"gan-jax sweep: error: --backend {backend} needs {name}: "
        f"pip install -e '.[{backend}]'\n")
    assert not (tmp_path / "w").exists()


def test_slurm_resources_come_from_the_sweep_file_and_flags_override_them(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(cluster, "_which", lambda program: "/usr/bin/" + program)
    spec = {"slurm": {"partition": "gpu", "time": "2:30:00", "gpus": 1, "mem": "16G",
                      "submitit": {"slurm_account": "lab"}}}
    options = cluster.slurm_options(spec, {"cpus": 4, "partition": None, "array": True},
                                    str(tmp_path))
    assert options.executor_parameters() == {
        "name": "gan_jax_sweep", "timeout_min": 150, "nodes": 1, "tasks_per_node": 1,
        "cpus_per_task": 4, "slurm_array_parallelism": 256, "gpus_per_node": 1,
        "slurm_partition": "gpu", "mem_gb": 16.0, "slurm_account": "lab"}
    assert options.array and options.folder == str(tmp_path / "slurm")
    assert [cluster.parse_minutes(t) for t in (90, "1:30:00", "2-00:00:00", "5:30")] == [
        90, 90, 2880, 6]
    assert cluster.parse_mem_gb("16000M") == pytest.approx(15.625)
    with pytest.raises(ValueError, match="unknown key 'partiton' in the sweep file's 'slurm'"):
        cluster.slurm_options({"slurm": {"partiton": "gpu"}}, {}, str(tmp_path))
    with pytest.raises(ValueError, match=r"time limit 'soon' is not minutes or \[D-\]H:MM:SS"):
        cluster.slurm_options({}, {"time": "soon"}, str(tmp_path))
    monkeypatch.setattr(cluster, "_which", lambda program: None)
    with pytest.raises(ValueError, match="needs SLURM's sbatch on PATH"):
        cluster.slurm_options({}, {}, str(tmp_path))


def test_flags_of_another_backend_are_refused(tmp_path, capsys):
    status = sweep_lib.main(["--sweep", "missing.py", "--workdir", str(tmp_path),
                             "--backend", "ray", "--partition", "gpu"])
    assert status == 2
    assert capsys.readouterr().err == (
        "gan-jax sweep: error: --partition applies to --backend slurm, not ray\n")


def test_vmap_backend_gets_the_unfinished_runs_and_writes_the_same_files(tmp_path,
                                                                        monkeypatch, capsys):
    from gan_jax import sweep_vmap

    spec = {**tiny_sweep(), "seeds": [0, 1, 2]}
    spec["overrides"] = {**spec["overrides"], "num_steps": 4, "log_every": 2,
                         "checkpoint_every": 2, "sample_every": 4}
    workdir = str(tmp_path)
    dirs = {run["seed"]: run["workdir"] for run in sweep_lib.plan(spec, workdir)}
    sweep_lib.run_one(RING8, sweep_lib.plan(spec, workdir)[0]["overrides"], dirs[0])
    calls = []
    real = sweep_vmap.run_runs

    def recorded(config_path, todo, report, log):
        calls.append((config_path, [run["seed"] for run in todo]))
        return real(config_path, todo, report, log)

    monkeypatch.setattr(sweep_vmap, "run_runs", recorded)
    sweep_file = tmp_path / "tiny.py"
    sweep_file.write_text(f"def get_sweep():\n    return {spec!r}\n")
    capsys.readouterr()
    assert sweep_lib.main(["--sweep", str(sweep_file), "--workdir", workdir,
                           "--backend", "vmap"]) == 0
    assert calls == [(RING8, [1, 2])]
    out = capsys.readouterr().out
    assert "3 runs (1 finished before), 2 to run, vmapped in groups" in out
    assert "| nonsaturating | 3 |" in out
    for seed in (0, 1, 2):
        record = sweep_lib._read_result(dirs[seed])
        assert set(record) == {"overrides", "run_seconds", "metrics"}
        assert record["metrics"]["step"] == 4
