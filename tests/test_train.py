"""End to end through train_and_evaluate: outputs, resume, TFDS, learning."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import make_toy_config

from gan_jax import checkpointing, metric_writer, runs, state as state_lib
from gan_jax.compilation import use_compilation_cache
from gan_jax.configs import ConfigError, base_config
from gan_jax.models import model_config
from gan_jax.train import train_and_evaluate


def toy_config(steps=20, **fields):
    return make_toy_config(steps, {"model.hidden": 32, "batch_size": 64, **fields})


def _params(state):
    return jax.device_get((state.g_params, state.d_params, state.g_opt_state,
                           state.d_opt_state, state.rng, state.step))


def test_toy_run_writes_every_output(tmp_path):
    workdir = str(tmp_path / "run")
    train_and_evaluate(toy_config(), workdir)
    assert sorted(checkpointing.Checkpointer(os.path.join(workdir, "checkpoints")).all_steps()) \
        == [10, 20]
    rows = metric_writer.read_metrics(workdir)
    assert [r["step"] for r in rows] == [10, 20]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm",
                "steps_per_sec", "modes_captured", "high_quality"):
        assert key in rows[-1] and np.isfinite(rows[-1][key]), key
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    assert os.path.getsize(os.path.join(workdir, "samples", "step_0000020.png")) > 1000
    assert json.load(open(os.path.join(workdir, "config.json")))["data"]["name"] == "ring8"


@pytest.mark.parametrize("conditioning", ["none", "concat"])
def test_resume_equals_uninterrupted(tmp_path, conditioning):
    # ring8's examples carry their component as label; "concat" feeds it to G and D.
    fields = {"model.conditioning": conditioning}
    straight = train_and_evaluate(toy_config(40, **fields), str(tmp_path / "straight"))
    c = toy_config(20, **fields)
    train_and_evaluate(c, str(tmp_path / "resumed"))
    c.num_steps = 40
    resumed = train_and_evaluate(c, str(tmp_path / "resumed"))
    same = jax.tree.map(np.array_equal, _params(straight), _params(resumed))
    assert all(jax.tree.leaves(same))
    steps = [r["step"] for r in metric_writer.read_metrics(str(tmp_path / "resumed"))]
    assert steps == [10, 20, 30, 40]


def test_compilation_cache_stores_the_programs_and_a_second_run_reuses_them(tmp_path):
    from jax.experimental.compilation_cache import compilation_cache

    cache = tmp_path / "xla"
    previous = (jax.config.jax_compilation_cache_dir,
                jax.config.jax_persistent_cache_min_compile_time_secs)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # store every program
    try:
        c = toy_config(10)
        c.compilation_cache_dir = str(cache)
        first = train_and_evaluate(c, str(tmp_path / "a"))
        stored = {name for name in os.listdir(cache) if name.endswith("-cache")}
        assert any(name.startswith("jit_train_step") for name in stored), stored
        second = train_and_evaluate(c, str(tmp_path / "b"))
        # Every program of the second run was found in the cache: nothing new was stored.
        assert {name for name in os.listdir(cache) if name.endswith("-cache")} == stored
        assert all(jax.tree.leaves(jax.tree.map(np.array_equal, _params(first),
                                                _params(second))))
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", previous[1])
        if previous[0]:
            use_compilation_cache(previous[0])
        else:
            jax.config.update("jax_compilation_cache_dir", None)
            compilation_cache.reset_cache()


def test_rerun_of_a_finished_run_resumes_and_does_nothing(tmp_path, capsys):
    c = toy_config(10)
    first = train_and_evaluate(c, str(tmp_path))
    out = capsys.readouterr().out
    assert "Trained to step 10" in out and "Nothing to do" not in out
    again = train_and_evaluate(c, str(tmp_path))
    assert "Nothing to do" in capsys.readouterr().out
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, _params(first), _params(again))))


def image_config(steps=1):
    c = base_config()
    c.data.name = "mnist"
    c.data.data_dir = "/nonexistent-tfds-dir"
    c.model = model_config("dcgan", latent_dim=16)
    c.batch_size = 8
    c.num_steps = steps
    c.log_every = c.sample_every = c.checkpoint_every = 1
    c.num_samples = 16
    c.progress_bar = False
    return c


def test_one_real_step_on_mock_tfds_data(tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        state = train_and_evaluate(image_config(), str(tmp_path))
    assert int(state.step) == 1
    assert state_lib.param_count(state.g_params) > 6_000_000
    rows = metric_writer.read_metrics(str(tmp_path))
    assert np.isfinite(rows[0]["d_loss"]) and np.isfinite(rows[0]["g_loss"])
    assert os.path.getsize(tmp_path / "samples" / "step_0000001.png") > 1000


def test_image_resume_continues_the_data_stream(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        straight = train_and_evaluate(image_config(3), str(tmp_path / "a"))
        train_and_evaluate(image_config(2), str(tmp_path / "b"))
        resumed = train_and_evaluate(image_config(3), str(tmp_path / "b"))
    diff = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))),
                        jax.device_get(straight.d_params), jax.device_get(resumed.d_params))
    assert max(jax.tree.leaves(diff)) < 1e-6


def test_missing_dataset_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not prepared in /nonexistent-tfds-dir"):
        train_and_evaluate(image_config(), str(tmp_path))
    assert not os.path.exists(tmp_path / "checkpoints")


def test_ring8_learns_several_modes(tmp_path):
    """A short ring8 run covers several modes; the untrained generator covers at most 2.

    Threshold: at least 5 of 8 modes captured after 1,500 steps (about 20 s).
    """
    from gan_jax.data import synthetic
    from gan_jax.eval import modes

    c = toy_config(1500, **{"model.hidden": 128, "model.depth": 3})
    c.batch_size = 256
    c.optim.g.lr = c.optim.d.lr = 1e-3
    c.log_every = c.sample_every = c.checkpoint_every = 1500
    c.num_toy_samples = 2500
    untrained = state_lib.init_state(state_lib.make_gan(c, (2,), axis_name=None), c.seed)
    gan = state_lib.make_gan(c, (2,), axis_name=None)
    z = jax.random.normal(jax.random.PRNGKey(1), (2500, 2))
    mixture = synthetic.make_mixture(c.data)
    before = modes.mode_stats(np.asarray(gan.generator.apply(
        {"params": untrained.g_params}, z, train=False)), mixture)
    assert before["modes_captured"] <= 2
    train_and_evaluate(c, str(tmp_path))
    after = metric_writer.read_metrics(str(tmp_path))[-1]
    assert after["modes_captured"] >= 5, after


def test_a_conditional_toy_learns_its_labels(tmp_path):
    """Labels reach G and D: ring8 with its components as labels, concat conditioning.

    After 1,500 steps G(z, y = k) puts most samples nearest mode k, for every k (chance is
    1/8); an unconditional G, which ignores y, cannot pass. Threshold: 60% per mode.
    """
    from gan_jax import runs, sampling

    c = toy_config(1500, **{"model.hidden": 128, "model.depth": 3,
                            "model.conditioning": "concat"})
    c.batch_size = 256
    c.optim.g.lr = c.optim.d.lr = 1e-3
    c.log_every = c.sample_every = c.checkpoint_every = 1500
    state = train_and_evaluate(c, str(tmp_path))
    source, gan = runs.build(c, axis_name=None)
    z = sampling.fixed_latents(0, 1, (800, 2))
    y = jnp.arange(800, dtype=jnp.int32) % 8
    x = sampling.Generator(gan)(jax.device_get(state), z, y)
    means = np.asarray(source.mixture.means)
    nearest = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    hits = [float(np.mean(nearest[np.asarray(y) == k] == k)) for k in range(8)]
    assert min(hits) >= 0.6, hits


def test_train_loop_compiles_the_step_once(tmp_path, monkeypatch):
    from gan_jax import steps

    made = []
    parallelize = steps.parallelize

    def recording(*args, **kwargs):
        made.append(parallelize(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(steps, "parallelize", recording)
    train_and_evaluate(toy_config(12), str(tmp_path / "run"))
    assert len(made) == 1 and made[0]._cache_size() == 1



def eval_config(steps=30):
    c = toy_config(steps)
    c.eval_every, c.best_metric, c.sample_every = 10, "high_quality", 1000
    return c


def best_meta(workdir):
    ckpt = checkpointing.Checkpointer(os.path.join(workdir, "best_checkpoint"), create=False)
    (step,) = ckpt.all_steps()
    meta = ckpt.restore_meta(step)
    ckpt.close()
    return step, meta["best"]


def restore_best(workdir):
    c = eval_config()
    template = state_lib.init_state(runs.build(c)[1], c.seed)
    ckpt = checkpointing.Checkpointer(os.path.join(workdir, "best_checkpoint"), create=False)
    state, _ = ckpt.restore(ckpt.latest_step(), template)
    ckpt.close()
    return jax.device_get(state)


def test_evaluation_logs_keeps_the_best_and_leaves_training_bit_identical(tmp_path):
    c = eval_config(30)
    c.eval_every, c.best_metric = 0, "none"
    plain = train_and_evaluate(c, str(tmp_path / "plain"))
    workdir = str(tmp_path / "eval")
    evaluated = train_and_evaluate(eval_config(30), workdir)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, _params(plain), _params(evaluated))))
    rows = metric_writer.read_metrics(workdir)
    evals = [r for r in rows if "eval/high_quality" in r]
    assert [r["step"] for r in evals] == [10, 20, 30]
    for r in evals:
        assert r["eval_reference"] == "ring8/mixture-413533e1/n500" and r["eval_samples"] == 500
        assert {"eval/modes_captured", "eval/reverse_kl", "eval_seconds"} <= set(r)
    values = [r["eval/high_quality"] for r in evals]
    step, best = best_meta(workdir)
    first_max = evals[int(np.argmax(values))]  # ties keep the earlier step
    assert step == best["step"] == first_max["step"] and best["value"] == max(values)
    assert best["metric"] == "high_quality" and best["reference_key"] == r["eval_reference"]
    assert best["metrics"]["reverse_kl"] == first_max["eval/reverse_kl"]
    assert os.listdir(os.path.join(workdir, "best_checkpoint")) == [str(step)]


def test_the_best_survives_worse_evaluations_resume_and_divergence(tmp_path, monkeypatch):
    """Scripted high_quality 0.2, 0.5, 0.3 | resume | 0.4, 0.45: the best stays at step 20.

    Then a continuation diverges before its first evaluation (step 60, the first step
    that fetches metrics): under a new best_metric any finite evaluation would replace
    the best, yet the best checkpoint is untouched.
    """
    from gan_jax.eval import toy_eval
    from gan_jax.train import DivergenceError

    script = iter([0.2, 0.5, 0.3, 0.4, 0.45])
    real_call = toy_eval.ToyEvaluator.__call__

    def scripted(self, samples):
        return {**real_call(self, samples), "high_quality": next(script)}

    monkeypatch.setattr(toy_eval.ToyEvaluator, "__call__", scripted)
    workdir = str(tmp_path)
    train_and_evaluate(eval_config(30), workdir)
    assert best_meta(workdir)[0] == 20
    state_at_20 = restore_best(workdir)
    train_and_evaluate(eval_config(50), workdir)
    step, best = best_meta(workdir)
    assert (step, best["value"]) == (20, 0.5)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, state_at_20, restore_best(workdir))))

    c = eval_config(80)
    c.log_every = c.checkpoint_every = 1000
    c.best_metric = "reverse_kl"
    c.optim.g.lr = c.optim.d.lr = 1e30  # blows up within a few steps
    with pytest.raises(DivergenceError, match=r"at step (5[1-9]|60);"):
        train_and_evaluate(c, workdir)
    assert best_meta(workdir)[0] == 20
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, state_at_20, restore_best(workdir))))


def test_a_folder_run_trains_and_a_folder_gone_bad_loses_nothing(tmp_path, image_config):
    """A labelled image folder trains through the whole step; emptied, it is one line."""
    from PIL import Image

    root = tmp_path / "images"
    for k, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (10 + i, 12), (120 * k, 60, 200)).save(root / name / f"{i}.png")
    c = image_config(4, {"data.name": "folder", "data.path": str(root),
                         "data.data_dir": str(tmp_path / "tfds"), "data.resolution": 8})
    workdir = str(tmp_path / "run")
    state = train_and_evaluate(c, workdir)
    assert int(state.step) == 4 and runs.build(c)[0].spec.class_names == ("a", "b")
    saved = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
    for path in root.rglob("*.png"):
        path.unlink()
    c.num_steps = 6
    with pytest.raises(ConfigError, match=r"^image folder .*images holds no images"):
        train_and_evaluate(c, workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == saved
