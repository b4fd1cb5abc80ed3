"""Config validation: every mistake is one line naming the field, before any compile."""

import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from gan_jax import runs
from gan_jax.configs import ConfigError, base_config, validate
from gan_jax.models import model_config

ROOT = os.path.join(os.path.dirname(__file__), "..")
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "experiments", "configs", "*.py")))


def load_config(path):
    return runs.load_config(path)


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_experiment_config_validates(path, tmp_path, monkeypatch):
    config = load_config(path)
    doc = open(path).read()
    assert "python -m gan_jax.main --config experiments/configs/" in doc, "docstring command"
    if config.data.name == "folder":  # the user's folder: a few images stand in for it
        from PIL import Image

        for i in range(3):
            Image.new("RGB", (80, 96), (40 * i, 90, 200)).save(tmp_path / f"{i}.png")
        config.data.path, config.data.data_dir = str(tmp_path), str(tmp_path / "tfds")
    if config.data.name == "emoji":  # built from npm on first use; its spec is what counts
        from gan_jax.data import Spec, input_pipeline

        monkeypatch.setattr(input_pipeline, "EmojiSource", lambda data_config: type(
            "Emoji", (), {"spec": Spec((64, 64, 3), (-1.0, 1.0), 10), "in_step": False})())
    if config.data.name == "folder":
        source = validate(config, num_devices=1)  # built for real: TFDS's mock would hide it
    else:
        with tfds.testing.mock_data(num_examples=8):
            source = validate(config, num_devices=1)
    assert len(source.spec.shape) in (1, 3)


def _set(config, field, value):
    *parents, last = field.split(".")
    for p in parents:
        config = config[p]
    with config.ignore_type():
        config[last] = value


@pytest.mark.parametrize("field,value,message", [
    ("loss", "hinge2", "unknown loss 'hinge2' (config.loss); allowed: fgan_gan, "),
    ("model.name", "resnet9",
     "unknown model 'resnet9' (config.model.name); allowed: biggan, dcgan, dcgan64, mlp"),
    ("data.name", "no_such_data", "unknown dataset 'no_such_data' (config.data.name)"),
    ("batch_size", 0, "config.batch_size=0 must be a positive integer"),
    ("batch_size", 2.5, "config.batch_size=2.5 must be a positive integer"),
    ("num_steps", -3, "config.num_steps=-3 must be a positive integer"),
    ("n_disc", 0, "config.n_disc=0 must be a positive integer"),
    ("model.latent_dim", 0, "config.model.latent_dim=0 must be a positive integer"),
    ("ema_decay", 1.0, "config.ema_decay=1.0 must be in [0, 1)"),
    ("optim.d.lr", -1e-3, "config.optim.d.lr=-0.001 must be a positive number"),
    ("optim.g.name", "adamw2", "unknown optimizer 'adamw2' (config.optim.g.name); allowed:"),
    ("data.std", 0.0, "config.data.std=0.0 must be positive"),
    ("model", model_config("dcgan"), "config.model.name='dcgan' needs square images"),
    ("model.name", "dcgan", "unknown field config.model.depth of model 'dcgan'"),
    ("regularizers", {"r3": 1.0}, "unknown regularizer 'r3' (config.regularizers); allowed: "
                                  "dragan, gp, gp_one_sided, r1, r2"),
    ("regularizers", {"r1": {"weight": 1.0, "every": 0}}, "config.regularizers.r1 every=0 "
                                                          "must be an integer >= 1"),
    ("regularizers", {"r1": -1.0}, "config.regularizers.r1 weight -1.0 must be a number >= 0"),
    ("generated_labels", "balanced", "config.generated_labels='balanced' is not allowed; "
                                     "allowed: uniform, data"),
    ("data.channels", 2, "config.data.channels=2 must be 1 (greyscale) or 3 (RGB)"),
    ("seed", -1, "config.seed=-1 must be an integer in [0, 2**32)"),
    ("seed", True, "config.seed=True must be an integer"),
    ("progress_bar", "yes", "config.progress_bar='yes' must be True or False"),
    ("compilation_cache_dir", None, "config.compilation_cache_dir=None must be a path"),
    ("data.split", "", "config.data.split='' must be a split name"),
    ("data.shuffle_buffer", 0, "config.data.shuffle_buffer=0 must be a positive integer"),
    ("data.data_dir", "", "config.data.data_dir='' must be a directory path or None"),
    ("model.hidden", 0, "config.model.hidden=0 must be a positive integer"),
    ("model.depth", 1.5, "config.model.depth=1.5 must be a positive integer"),
    ("model.spectral_norm", "yes", "config.model.spectral_norm='yes' must be True or False"),
    ("optim.g.b1", 1.5, "config.optim.g.b1=1.5 must be a number in [0, 1)"),
    ("optim.d.lr", float("nan"), "config.optim.d.lr=nan must be a positive number"),
    ("optim.d.momentum", -0.1, "config.optim.d.momentum=-0.1 must be a number in [0, 1)"),
    ("optim.g.decay", 1.0, "config.optim.g.decay=1.0 must be a number in (0, 1)"),
    ("optim.g.betas", (0.5, 0.9), "unknown field config.optim.g.betas; allowed fields"),
    ("penalty", "gp2", "unknown penalty 'gp2' (config.penalty); allowed:"),
    ("penalty_weight", -1.0, "config.penalty_weight=-1.0 must be a number >= 0"),
    ("instance_noise_steps", 100, "config.instance_noise_steps=100 needs config.instance_noise"),
    ("unroll_steps", -1, "config.unroll_steps=-1 must be an integer >= 0"),
    ("compute_dtype", "float16", "config.compute_dtype='float16' is not allowed; allowed:"),
    ("log_every", 0, "config.log_every=0 must be a positive integer"),
    ("checkpoint_every", -5, "config.checkpoint_every=-5 must be a positive integer"),
    ("max_checkpoints", 0, "config.max_checkpoints=0 must be a positive integer"),
    ("ema_decay", float("inf"), "config.ema_decay=inf must be in [0, 1)"),
    ("eval_every", -1, "config.eval_every=-1 must be an integer >= 0 (0 turns evaluation off)"),
    ("eval_every", 2.5, "config.eval_every=2.5 must be an integer >= 0"),
    ("eval_samples", 10, "config.eval_samples=10 must be an integer >= 100"),
    ("best_metric", "fid", "unknown best_metric 'fid' (config.best_metric) for "
     "config.data.name='ring8'; allowed: none, modes_captured, high_quality, reverse_kl"),
    ("best_metric", "fd_lenet", "unknown best_metric 'fd_lenet' (config.best_metric)"),
    ("best_metric", "high_quality", "config.best_metric='high_quality' needs "
     "config.eval_every > 0"),
])
def test_bad_field_is_one_clear_line(field, value, message):
    config = base_config()
    _set(config, field, value)
    with pytest.raises(ConfigError) as info:
        validate(config, num_devices=1)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_field_is_named():
    config = base_config()
    config.model.hiden = 64
    with pytest.raises(ConfigError, match=r"unknown field config.model.hiden of model 'mlp'; "
                                          r"did you mean config.model.hidden\? allowed fields"):
        validate(config, num_devices=1)


def test_batch_must_divide_over_devices():
    config = base_config()
    config.batch_size = 30
    with pytest.raises(ConfigError, match="not divisible by the 4 devices; use a multiple of 4"):
        validate(config, num_devices=4)


def test_mlp_on_images_is_refused():
    config = base_config()
    config.data.name = "mnist"
    with tfds.testing.mock_data(num_examples=8):
        with pytest.raises(ConfigError, match="'mlp' needs flat vectors"):
            validate(config, num_devices=1)


def test_command_line_prints_one_line_and_exits_2(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "gan_jax.main", "--config",
         os.path.join(ROOT, "experiments", "configs", "ring8.py"),
         "--workdir", str(tmp_path / "w"), "--config.loss=hinge2"],
        capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("gan-jax: error: unknown loss 'hinge2' (config.loss)")
    assert "Traceback" not in out.stderr
    assert not os.path.exists(tmp_path / "w")


def test_image_best_metrics_and_gauss1d_parzen_are_allowed():
    config = base_config()
    config.eval_every = 10
    config.best_metric = "parzen_ll"
    with pytest.raises(ConfigError, match="allowed: none, modes_captured, high_quality, "
                                          "reverse_kl$"):
        validate(config, num_devices=1)
    config.data.name = "gauss1d"
    validate(config, num_devices=1)
    config.data.name, config.best_metric = "mnist", "parzen_ll"
    config.model = model_config("dcgan")
    with tfds.testing.mock_data(num_examples=8):
        with pytest.raises(ConfigError, match="allowed: none, fd_lenet, kid, precision, "
                                              "recall, density, coverage, classifier_score, "
                                              "class_accuracy, intra_fd_lenet$"):
            validate(config, num_devices=1)
        config.best_metric = "fd_lenet"
        validate(config, num_devices=1)
        config.data.name = "cifar10"
        # No LeNet for CIFAR-10: "auto" features are the Inception network's.
        with pytest.raises(ConfigError, match="unknown best_metric 'fd_lenet'.*allowed: none, "
                                              "fid, kid, .*inception_score, intra_fid$"):
            validate(config, num_devices=1)
        config.best_metric = "fid"
        validate(config, num_devices=1)
        config.eval_features, config.best_metric = "lenet", "fd_lenet"
        with pytest.raises(ConfigError, match=r"^config.eval_every=10 cannot evaluate "
                           r"'cifar10': .*mnist"):
            validate(config, num_devices=1)


def test_saved_config_json_reads_back_equal():
    from gan_jax.configs import from_json

    config = load_config(os.path.join(ROOT, "experiments", "configs", "gauss1d.py"))
    config.data.weights = (1.0,)
    config.optim.d.eps_root = 1e-8
    back = from_json(json.loads(config.to_json()))
    assert back.to_dict() == config.to_dict()
    assert isinstance(back.data.means, tuple)
    old = json.loads(config.to_json())
    del old["eval_every"], old["best_metric"]  # a run saved before these fields existed
    assert from_json(old).eval_every == 0 and from_json(old).best_metric == "none"


def test_a_folder_resolution_the_model_cannot_draw_stops_before_the_build(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (20, 20), (80 * i, 10, 10)).save(tmp_path / f"{i}.png")
    config = load_config(os.path.join(ROOT, "experiments", "configs", "anime_faces.py"))
    config.data.path, config.data.data_dir = str(tmp_path), str(tmp_path / "tfds")
    config.data.resolution = 48
    with pytest.raises(ConfigError, match=r"^config.model.name='dcgan64' needs 64x64 images "
                                          r"with 1 or 3 channels, got data shape \(48, 48, 3\)"):
        validate(config, num_devices=1)
    assert not (tmp_path / "tfds").exists()  # nothing was built
