"""The ``gan-jax`` command line: a command line error is one line and exit status 2, and a
command's output is gan-jax's own lines (no TensorFlow or absl log lines)."""

import os
import re
import subprocess
import sys

import ml_collections
import pytest

from gan_jax import train_cli as gan_main

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RING8 = os.path.join(ROOT, "experiments", "configs", "ring8.py")
DEFAULT = os.path.join(ROOT, "experiments", "configs", "default.py")
# absl's log line (C++ and Python): severity, MMDD, time, thread id, file:line.
LOG_LINE = re.compile(r"[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\]")


def gan_jax(*args, timeout=300):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    # The defaults are under test, not a developer's own logging settings.
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "gan_jax.main", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout, check=False)


@pytest.mark.parametrize("args, expected", [
    (["--config.nonexistent=3"],
     r"unknown field config\.nonexistent; did you mean config\.\w+"),
    (["--config.num_steps=abc"], r"--config\.num_steps=abc: .*'abc'"),
    (["--config", "experiments/configs/nope.py"],
     r"cannot read config file experiments/configs/nope\.py: No such file or directory"),
], ids=["mistyped_field", "wrong_type", "missing_file"])
def test_command_line_error_is_one_line_and_status_2(tmp_path, args, expected):
    out = gan_jax("--config", RING8, "--workdir", str(tmp_path / "w"), *args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert re.fullmatch(r"gan-jax: error: .+", lines[0]) and re.search(expected, lines[0]), lines
    assert out.stdout == ""
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("override, suggested", [
    ("--config.optim.d.lrr=1", "config.optim.d.lr"),
    ("--config.num_step=5", "config.num_steps"),
    ("--config.model.hiden=4", "config.model.hidden"),
    ("--config.optim.dd.lr=1", "config.optim.d.lr"),
])
def test_unknown_field_names_the_closest_fields(override, suggested):
    field = override[2:].split("=")[0]
    with pytest.raises(gan_main.CommandLineError,
                       match=rf"^unknown field {re.escape(field)}; did you mean "
                             rf"{re.escape(suggested)}[ ,?]"):
        gan_main.check_overrides(gan_main.load_config(RING8), ["gan-jax", override])


@pytest.mark.parametrize("override, message", [
    ("--config.num_steps.x=1", "unknown field config.num_steps.x: config.num_steps holds 10, "
                               "not a group of fields"),
    ("--config.data.dir.x=a", "unknown field config.data.dir.x: config.data.dir holds None, "
                              "not a group of fields"),
    ("--config.data.means[0]=1", "config.data.means[0] is not a field: an override sets a "
                                 "whole field, here --config.data.means=..."),
    ("--config.regularizers.r1=10", "config.regularizers.r1 is not a field: "
                                    "config.regularizers is set as a whole, e.g. "
                                    "--config.regularizers='{\"r1\": 1.0}'"),
])
def test_override_below_a_value_is_refused(override, message):
    config = ml_collections.ConfigDict(
        {"num_steps": 10, "data": {"dir": None, "means": (1.0, 2.0)},
         "regularizers": ml_collections.ConfigDict()})
    with pytest.raises(gan_main.CommandLineError, match=f"^{re.escape(message)}"):
        gan_main.check_overrides(config, ["gan-jax", override])


def test_existing_fields_and_other_flags_pass():
    config = gan_main.load_config(RING8)
    gan_main.check_overrides(config, [
        "gan-jax", "--config", RING8, "--workdir", "/w", "--config.optim.d.lr=1e-3",
        "--noconfig.progress_bar", "--config.num_steps", "7", "--config.model", "--restart"])


@pytest.mark.parametrize("source, message", [
    ("x = 1\n", r"config file \S+ defines no get_config\(\)$"),
    ("def get_config(:\n", r"config file \S+, line 1: invalid syntax"),
    ("def get_config():\n    return 1 / 0\n",
     r"config file \S+, line 2: ZeroDivisionError: division by zero$"),
    ("def get_config():\n    return {}\n", r"returned dict, not an ml_collections.ConfigDict$"),
], ids=["no_get_config", "syntax", "raises", "not_a_config_dict"])
def test_config_file_that_does_not_load(tmp_path, source, message):
    path = tmp_path / "config.py"
    path.write_text(source)
    with pytest.raises(gan_main.CommandLineError, match=message):
        gan_main.load_config(str(path))


def test_config_argument_reaches_get_config():
    mnist = os.path.join(ROOT, "experiments", "configs", "mnist_dcgan.py")
    assert gan_main.load_config(mnist + ":gpu") == gan_main.load_config(mnist + ":gpu")
    with pytest.raises(gan_main.CommandLineError, match=r"line \d+: ValueError: .*'zzz'"):
        gan_main.load_config(mnist + ":zzz")


def assert_own_lines(out):
    output = out.stdout + out.stderr
    assert "oneDNN" not in output and "absl::InitializeLog" not in output, output
    logged = [line for line in output.splitlines() if LOG_LINE.match(line)]
    assert not logged, logged


TINY = ["--config.num_steps=2", "--config.checkpoint_every=2", "--config.log_every=1",
        "--config.sample_every=2", "--config.progress_bar=False"]


@pytest.mark.parametrize("config, extra, eval_args", [
    (RING8, ["--config.model.hidden=8"], []),
    (DEFAULT, ["--config.model.latent_dim=8", "--config.batch_size=8", "--config.eval_every=0",
               "--config.best_metric=none"], ["--num_samples", "200"]),
], ids=["ring8", "mnist5k_dcgan"])
def test_train_and_eval_print_only_their_own_lines(tmp_path, config, extra, eval_args):
    workdir = str(tmp_path / "w")
    trained = gan_jax("--config", config, "--workdir", workdir, *TINY, *extra)
    assert trained.returncode == 0, trained.stderr
    assert_own_lines(trained)
    evaluated = gan_jax("eval", "--workdir", workdir, *eval_args)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.startswith(f"Evaluation of {workdir}/checkpoints/2 "), evaluated.stdout
    assert evaluated.stderr == ""
    assert_own_lines(evaluated)
