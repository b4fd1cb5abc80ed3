"""``gan-jax eval`` and ``gan-jax sample`` on short real runs; their one-line errors."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_image_config, make_toy_config

from gan_jax import metric_writer
from gan_jax.eval import cli
from gan_jax.train import train_and_evaluate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


@pytest.fixture(scope="module")
def ring8_run(tmp_path_factory):
    """20 steps of a small ring8 GAN evaluated at steps 10 and 20 (500 samples)."""
    c = make_toy_config(20, {"model.hidden": 32, "batch_size": 64, "sample_every": 1000,
                             "eval_every": 10, "best_metric": "reverse_kl"})
    workdir = str(tmp_path_factory.mktemp("ring8") / "run")
    train_and_evaluate(c, workdir)
    return workdir


def snapshot(directory):
    """Every file under ``directory`` with its size and modification time."""
    return {os.path.relpath(os.path.join(d, f), directory):
            (os.path.getsize(os.path.join(d, f)), os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, files in os.walk(directory) for f in files}


def test_eval_repeats_the_evaluation_training_made(ring8_run, capsys):
    before = snapshot(ring8_run)
    trained = {r["step"]: r for r in metric_writer.read_metrics(ring8_run)
               if "eval/reverse_kl" in r}
    for which, step in (("latest", 20), ("best", None), ("10", 10)):
        assert cli.main(["eval", "--workdir", ring8_run, "--checkpoint", which]) == 0
        row = metric_writer.read_metrics(ring8_run, "eval.jsonl")[-1]
        step = step or min(trained, key=lambda s: (trained[s]["eval/reverse_kl"], s))
        assert row["step"] == step and row["checkpoint"] == which
        for key in ("eval/modes_captured", "eval/high_quality", "eval/reverse_kl",
                    "eval_reference", "eval_samples"):
            assert row[key] == trained[step][key], key  # same latents, same numbers
    out = capsys.readouterr().out
    assert "reference: ring8/mixture-413533e1/n500" in out
    for name in ("modes captured", "high-quality share", "reverse KL"):
        assert name in out
    after = snapshot(ring8_run)
    assert after.pop("eval.jsonl") and after == before  # nothing else written


def test_sample_writes_arrays_and_a_picture(ring8_run, tmp_path):
    out = str(tmp_path / "new_dir" / "ring")
    assert cli.main(["sample", "--workdir", ring8_run, "--num", "300", "--out", out]) == 0
    data = np.load(out + ".npz")
    assert data["samples"].shape == (300, 2) and data["latents"].shape == (300, 2)
    assert np.all(np.isfinite(data["samples"])) and np.abs(data["samples"]).max() < 100
    assert os.path.getsize(out + ".png") > 5000
    assert cli.main(["sample", "--workdir", ring8_run, "--num", "300", "--out",
                     str(tmp_path / "again.npz"), "--checkpoint", "20"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again.npz")["samples"], data["samples"])


def _truncated_copy(ring8_run, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(ring8_run, copy)
    state_dir = os.path.join(copy, "checkpoints", "20", "state")
    files = [os.path.join(d, f) for d, _, fs in os.walk(state_dir) for f in fs]
    biggest = max(files, key=os.path.getsize)
    with open(biggest, "r+b") as f:
        f.truncate(os.path.getsize(biggest) // 2)
    return copy


def _without_best(ring8_run, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(ring8_run, copy, ignore=shutil.ignore_patterns("best_checkpoint"))
    return copy


@pytest.mark.parametrize("case,args,message", [
    ("missing", ["eval"], "no such workdir: {w}"),
    ("empty", ["eval"], "{w} holds no config.json: not a gan_jax workdir"),
    ("run", ["eval", "--checkpoint", "newest"],
     "unknown --checkpoint value 'newest'; allowed: latest, best or a step number"),
    ("run", ["sample", "--checkpoint", "15", "--num", "4", "--out", "/tmp/x"],
     "no checkpoint of step 15 in {w}/checkpoints; steps there: 10, 20"),
    ("run", ["eval", "--num_samples", "5"], "--num_samples=5 must be at least 100"),
    ("no_best", ["eval", "--checkpoint", "best"],
     "no checkpoint in {w}/best_checkpoint; the run kept no best checkpoint"),
    ("truncated", ["eval", "--checkpoint", "20"],
     "the checkpoint of step 20 in {w}/checkpoints/20 cannot be read ("),
])
def test_errors_are_one_line_and_change_nothing(ring8_run, tmp_path, capsys, case, args,
                                                message):
    workdir = {"missing": lambda: str(tmp_path / "nowhere"),
               "empty": lambda: str(tmp_path),
               "run": lambda: ring8_run,
               "no_best": lambda: _without_best(ring8_run, tmp_path),
               "truncated": lambda: _truncated_copy(ring8_run, tmp_path)}[case]()
    before = snapshot(workdir) if os.path.isdir(workdir) else None
    capsys.readouterr()
    assert cli.main([args[0], "--workdir", workdir, *args[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-jax: error: " + message.format(w=workdir)), err
    assert err.count("\n") == 1
    if before is not None:
        assert snapshot(workdir) == before


def test_the_console_command_dispatches_eval(ring8_run):
    before = snapshot(ring8_run)
    out = subprocess.run([sys.executable, "-m", "gan_jax.main", "eval", "--workdir", ring8_run,
                          "--checkpoint", "newest"], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, check=False)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "gan-jax: error: unknown --checkpoint value 'newest'; allowed: latest, best or a "
        "step number"]
    assert snapshot(ring8_run) == before


IMAGE_LINES = ("FD-LeNet", "KID", "precision", "recall", "density", "coverage",
               "classifier score")


def test_eval_of_a_dcgan_mnist5k_run_prints_the_seven_image_metrics(tmp_path, capsys):
    """One DCGAN step on mnist5k evaluated on 200 samples, in training and by the command."""
    # mnist5k in the default data dir: its LeNet ships with gan_jax.
    c = make_image_config(None, 1, {"data.name": "mnist5k"})
    c.log_every = c.checkpoint_every = c.sample_every = c.eval_every = 1
    c.eval_samples, c.best_metric = 200, "fd_lenet"
    workdir = str(tmp_path / "run")
    train_and_evaluate(c, workdir)
    trained = metric_writer.read_metrics(workdir)[-1]
    assert trained["eval_reference"].startswith("mnist5k/train/lenet-mnist5k-")
    assert trained["eval_reference"].endswith("/n200")
    assert cli.main(["eval", "--workdir", workdir, "--checkpoint", "best"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert lines[0] == "  reference: " + trained["eval_reference"]
    assert [line[2:24].strip() for line in lines[1:]] == list(IMAGE_LINES), out
    row = metric_writer.read_metrics(workdir, "eval.jsonl")[-1]
    assert row["step"] == 1 and row["eval_reference"] == trained["eval_reference"]
    for key in ("fd_lenet", "kid", "precision", "recall", "density", "coverage",
                "classifier_score"):
        assert np.isfinite(row["eval/" + key]), key
        np.testing.assert_allclose(row["eval/" + key], trained["eval/" + key], rtol=1e-6,
                                   err_msg=key)
    out_path = str(tmp_path / "digits")
    assert cli.main(["sample", "--workdir", workdir, "--num", "20", "--out", out_path]) == 0
    samples = np.load(out_path + ".npz")["samples"]
    assert samples.shape == (20, 28, 28, 1) and np.abs(samples).max() <= 1.0
    assert os.path.getsize(out_path + ".png") > 1000
