"""``gan-jax launch --backend slurm``: submitted, started as SLURM would, trained over 2 processes.

There is no SLURM here, so ``sbatch`` and ``srun`` are stand-ins on PATH that do what SLURM
does for the job submitit writes: ``sbatch`` reads the ``#SBATCH`` lines, gives the job an id
and runs the script in the background; ``srun`` starts one process per task with the variables
a SLURM task gets (``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``, ``SLURM_NTASKS``, ``SLURM_PROCID``,
``SLURM_LOCALID``, ...), its output in the files ``--output``/``--error`` name. Everything else
is the real path: submitit's sbatch script and pickles, submitit's SLURM job environment,
JAX's SLURM detection in ``jax.distributed.initialize()``, training over the two processes.
The result must equal one process with two devices, to 1e-6 (the criterion of the two-process
test in test_reliability.py). The coordinator's port comes from ``JAX_COORDINATOR_PORT``, which
JAX's detection reads in place of the port it derives from the job id.
"""

import ast
import os
import pickle
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from gan_jax import launch, runs

pytest.importorskip("submitit")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RING8 = os.path.join(ROOT, "experiments", "configs", "ring8.py")

SBATCH = """#!{python}
import os, re, subprocess, sys
script = sys.argv[-1]
options = dict(re.findall(r"#SBATCH --([\\w-]+)=(\\S+)", open(script).read()))
job = str(4000 + os.getpid() % 1000)
nodes, per_node = int(options["nodes"]), int(options["ntasks-per-node"])
with open(os.path.join(os.path.dirname(__file__), "sbatch_options"), "w") as f:
    f.write(repr(options))
env = dict(os.environ, SLURM_JOB_ID=job, SLURM_JOB_NUM_NODES=str(nodes),
           SLURM_JOB_NODELIST="localhost", SLURM_NTASKS=str(nodes * per_node),
           SLURM_NTASKS_PER_NODE=str(per_node))
subprocess.Popen(["bash", script], env=env, start_new_session=True,
                 stdout=open(options["output"].replace("%j", job), "a"),
                 stderr=open(options["error"].replace("%j", job), "a"))
print("Submitted batch job " + job)
"""

SRUN = """#!{python}
import os, subprocess, sys
args, files = sys.argv[1:], {{}}
while args[0].startswith("--"):
    if args[0] in ("--output", "--error"):
        files[args[0]] = args[1]
        args = args[1:]
    args = args[1:]
job, nodes = os.environ["SLURM_JOB_ID"], int(os.environ["SLURM_JOB_NUM_NODES"])
tasks = int(os.environ["SLURM_NTASKS"])
procs = []
for t in range(tasks):
    name = lambda flag: files[flag].replace("%j", job).replace("%t", str(t))
    env = dict(os.environ, SLURM_PROCID=str(t), SLURM_LOCALID=str(t % (tasks // nodes)),
               SLURM_NODEID=str(t // (tasks // nodes)), SLURM_STEP_NODELIST="localhost",
               SLURM_STEP_NUM_NODES=str(nodes), SLURM_STEP_NUM_TASKS=str(tasks),
               SLURM_STEP_ID="0")
    procs.append(subprocess.Popen(args, env=env, stdout=open(name("--output"), "a"),
                                  stderr=open(name("--error"), "a")))
sys.exit(max(p.wait() for p in procs))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def train_args(workdir):
    return ["--config", RING8, "--workdir", str(workdir), "--config.model.hidden=16",
            "--config.model.depth=2", "--config.batch_size=32", "--config.num_steps=6",
            "--config.checkpoint_every=3", "--config.log_every=3",
            f"--config.sample_every={10**6}", "--config.num_toy_samples=100",
            "--config.progress_bar=False", "--config.eval_every=0",
            "--config.best_metric=none"]


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch and srun stand-ins first on PATH; no SLURM or JAX distribution variables."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", SBATCH), ("srun", SRUN)):
        (bin_dir / name).write_text(text.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    for name in list(os.environ):
        if name.startswith("SLURM_") or name.startswith("JAX_COORDINATOR") or name in (
                "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "XLA_FLAGS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("JAX_COORDINATOR_PORT", str(free_port()))
    return bin_dir


def final_params(workdir):
    state = runs.restore(str(workdir)).state
    return jax.device_get({"g": state.g_params, "d": state.d_params})


def test_launch_trains_over_two_slurm_tasks_what_one_process_with_two_devices_trains(
        tmp_path, fake_slurm, capsys):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=ROOT)
    one = subprocess.Popen([sys.executable, "-m", "gan_jax.main",
                            *train_args(tmp_path / "one")], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workdir = tmp_path / "two"
    assert launch.main(["--backend", "slurm", "--nodes", "2", "--time", "10", "--",
                        *train_args(workdir)]) == 0
    out = capsys.readouterr().out
    job = out.split("submitted SLURM job ")[1].split(":")[0]
    folder = workdir / "slurm"
    assert f"log of process 0: {folder}/{job}_0_log.out" in out
    options = ast.literal_eval((fake_slurm / "sbatch_options").read_text())
    assert (options["nodes"], options["ntasks-per-node"], options["time"]) == ("2", "1", "10")
    assert options["signal"] == "USR2@90"  # submitit's notice before the time limit

    results = [folder / f"{job}_{task}_result.pkl" for task in (0, 1)]
    deadline = time.monotonic() + 240
    while not all(r.exists() for r in results) and time.monotonic() < deadline:
        time.sleep(0.2)
    logs = "".join((folder / f"{job}_{t}_log.{e}").read_text() for t in (0, 1)
                   for e in ("out", "err") if (folder / f"{job}_{t}_log.{e}").exists())
    assert all(r.exists() for r in results), logs[-3000:]
    for r in results:
        with open(r, "rb") as f:
            assert pickle.load(f) == ("success", 6), logs[-3000:]
    assert "Trained to step 6" in (folder / f"{job}_0_log.out").read_text()

    assert one.wait(timeout=240) == 0, one.communicate()[1][-3000:]
    reference, two = final_params(tmp_path / "one"), final_params(workdir)
    diff = jax.tree.map(lambda a, b: float(np.max(np.abs(np.asarray(a, np.float64) - b))),
                        reference, two)
    assert max(jax.tree.leaves(diff)) < 1e-6, diff


def test_launch_checks_the_training_arguments_before_submitting(tmp_path, fake_slurm,
                                                                capsys):
    with pytest.raises(SystemExit) as info:
        launch.main(["--backend", "slurm", "--nodes", "2", "--", *train_args(tmp_path),
                     "--config.model.hiden=3"])
    assert info.value.code == 2
    assert "gan-jax: error: unknown field config.model.hiden" in capsys.readouterr().err
    assert not (fake_slurm / "sbatch_options").exists()
    assert launch.main(["--backend", "slurm", "--nodes", "2"]) == 2
    assert "no training arguments: put them after '--'" in capsys.readouterr().err
    assert launch.main(["--backend", "slurm", "--nodes", "3", "--", *train_args(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "gan-jax launch: error: config.batch_size=32 is not divisible by the 3 devices; use a "
        "multiple of 3\n")
    assert not (fake_slurm / "sbatch_options").exists()


def test_gan_jax_launch_without_sbatch_is_one_line(tmp_path, monkeypatch, capsys):
    from gan_jax import cluster, main

    monkeypatch.setattr(cluster, "_which", lambda program: None)
    monkeypatch.setattr(sys, "argv", ["gan-jax", "launch", "--backend", "slurm", "--nodes", "2",
                                      "--", *train_args(tmp_path)])
    with pytest.raises(SystemExit) as info:
        main.run()
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "gan-jax launch: error: --backend slurm needs SLURM's sbatch on PATH (run gan-jax "
        "launch on a login node of the cluster)\n")


def test_a_requeued_launch_resumes_rather_than_restarts():
    job = launch.TrainingJob(["--config=x.py", "--workdir=/w", "--restart"])
    requeued = job.checkpoint()
    assert requeued.function.argv == ["--config=x.py", "--workdir=/w"]
    assert launch.absolute_paths(["--config", RING8 + ":arg", "--workdir", "w", "--x"]) == [
        f"--config={RING8}:arg", f"--workdir={os.path.abspath('w')}", "--x"]
