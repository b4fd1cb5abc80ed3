"""The FID Inception network, its resizes, its weight conversion and its use in evaluation.

These tests use random weights of the full architecture (nothing is downloaded);
``test_inception_real_weights.py`` converts the real weights and checks them against
the TorchScript module they come from.

Tolerances: resizes agree with their references to 1e-4 on the [0, 255] scale (the
references run in float64; gan_jax's matrices are float32). Network outputs agree with
PyTorch's to 1e-4 of the largest output magnitude.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch  # the inception extra, part of .[test]

from gan_jax.eval import image_eval, inception, inception_weights

RTOL = 1e-4


def _relative_error(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def random_params(seed: int = 0, logits: bool = True) -> dict:
    """Every parameter of the network drawn at random, batch-norm statistics included."""
    shapes = inception.param_shapes(inception.NUM_LOGITS if logits else 0)
    rng = np.random.default_rng(seed)

    def draw(path, s):
        name = jax.tree_util.keystr(path)
        if name.endswith("['kernel']"):
            fan_in = int(np.prod(s.shape[:-1]))
            return (rng.normal(size=s.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        if name.endswith(("['scale']", "['var']")):
            return rng.uniform(0.5, 1.5, s.shape).astype(np.float32)
        return rng.uniform(-0.1, 0.1, s.shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


@pytest.fixture(scope="module")
def params():
    return random_params()


def pytorch_fid_models(state: dict[str, np.ndarray], monkeypatch):
    """pytorch-fid's pool3 wrapper and its logits network, both loaded with ``state``.

    pytorch-fid fetches its weights from GitHub; here its loader returns ``state``.
    """
    from pytorch_fid import inception as pf

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *a, **k: dict(tensors))
    pool3 = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False,
                           normalize_input=False, use_fid_inception=True).eval()
    classifier = pf.fid_inception_v3().eval()
    return pool3, classifier


def test_resize_modes_match_their_references():
    import torch.nn.functional as F
    from PIL import Image

    rng = np.random.default_rng(0)
    for h, w in [(28, 28), (8, 8), (64, 48), (300, 512), (299, 299)]:
        x = rng.integers(0, 256, size=(2, h, w, 3)).astype(np.float32)
        ours = {m: np.asarray(inception.resize(jnp.asarray(x), m)) for m in inception.RESIZE_MODES}
        t = torch.from_numpy(x.astype(np.float64)).permute(0, 3, 1, 2)
        # TF1 resize_bilinear (no half-pixel centres) emulated independently: grid_sample
        # with half-pixel centres, the grid shifted by 1/in - 1/out (the wheel's approach).
        theta = torch.zeros(2, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, 0, 2], theta[:, 1, 2] = 1 / w - 1 / 299, 1 / h - 1 / 299
        grid = F.affine_grid(theta, [2, 3, 299, 299], align_corners=False)
        tf = F.grid_sample(t, grid, mode="bilinear", padding_mode="border",
                           align_corners=False).permute(0, 2, 3, 1).numpy()
        tb = F.interpolate(t, (299, 299), mode="bilinear",
                           align_corners=False).permute(0, 2, 3, 1).numpy()
        pil = np.stack([np.stack([
            np.asarray(Image.fromarray(x[n, :, :, c], mode="F").resize((299, 299),
                                                                       Image.BICUBIC))
            for c in range(3)], -1) for n in range(2)]).clip(0, 255)
        for mode, ref in (("tf_bilinear", tf), ("torch_bilinear", tb), ("pil_bicubic", pil)):
            np.testing.assert_allclose(ours[mode], ref, rtol=0, atol=1e-4,
                                       err_msg=f"{mode} {h}x{w}")
    # The modes differ where it matters: upsampling 28 -> 299.
    x = jnp.asarray(rng.integers(0, 256, size=(1, 28, 28, 1)).astype(np.float32))
    a, b = (np.asarray(inception.resize(x, m)) for m in ("tf_bilinear", "torch_bilinear"))
    assert np.abs(a - b).max() > 10


def test_network_input_from_uint8_and_from_minus_one_to_one_is_the_same():
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, size=(3, 20, 24, 1)).astype(np.uint8)
    as_float = u8.astype(np.float32) / 127.5 - 1   # the input pipeline's scaling
    a = np.asarray(inception.to_network_input(jnp.asarray(u8)))
    b = np.asarray(inception.to_network_input(jnp.asarray(as_float)))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 299, 299, 3)
    np.testing.assert_array_equal(a[..., 0], a[..., 2])          # grey replicated
    full = np.asarray(inception.to_network_input(jnp.asarray(
        np.array([0, 255], np.uint8).reshape(1, 1, 2, 1).repeat(299, 1).repeat(150, 2)
        [:, :, :299])))
    assert full.min() == -1.0 and full.max() == 0.9921875       # (x - 128) / 128


@pytest.mark.parametrize("images, needle", [
    (np.zeros((2, 8, 8), np.uint8), "[N, H, W, C]"),
    (np.zeros((2, 8, 8, 2), np.uint8), "C = 1 or 3"),
    (np.zeros((2, 8, 8, 3), np.int32), "dtype int32"),
])
def test_bad_images_are_one_line_errors(images, needle):
    net = inception.InceptionNet({}, {"id": "x"})
    with pytest.raises(inception.InceptionError) as e:
        net.apply(images)
    assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(inception.InceptionError, match="unknown resize mode 'cubic'"):
        inception.check_resize("cubic")


def test_flax_network_equals_pytorch_fids_architecture_on_the_same_weights(params,
                                                                          monkeypatch):
    pool3, classifier = pytorch_fid_models(inception_weights.to_torchvision_state(params),
                                           monkeypatch)
    x = np.random.default_rng(2).uniform(-1, 0.99, size=(2, 299, 299, 3)).astype(np.float32)
    feats, logits = jax.jit(inception.InceptionV3(inception.NUM_LOGITS).apply)(
        {"params": params}, x)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    with torch.no_grad():
        ref_feats = pool3(xt)[0][:, :, 0, 0].numpy()
        ref_logits = classifier(xt).numpy()
    assert _relative_error(feats, ref_feats) < RTOL
    assert _relative_error(logits, ref_logits) < RTOL
    # The FID-specific pooling matters: torchvision's own last block (average pooling,
    # padding counted) gives other features.
    from torchvision.models.inception import InceptionE

    plain = InceptionE(2048).eval()
    plain.load_state_dict(pool3.blocks[3][2].state_dict())
    pool3.blocks[3][2] = plain
    with torch.no_grad():
        changed = pool3(xt)[0][:, :, 0, 0].numpy()
    assert _relative_error(feats, changed) > 100 * RTOL


def test_a_pth_state_dict_converts_and_saves_with_its_checksum(params, tmp_path):
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in inception_weights.to_torchvision_state(params).items()}
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    pth = tmp_path / "pt_inception.pth"
    torch.save(state, pth)
    net = inception_weights.prepare(str(tmp_path / "data"), pth, log=lambda *_: None)
    assert net.has_logits and net.id == f"inception-{inception.params_sha256(params)[:8]}"
    jax.tree.map(np.testing.assert_array_equal, net.params, params)
    info = json.loads((inception.default_dir(str(tmp_path / "data"))
                       / inception.INFO_FILE).read_text())
    assert info["source_format"] == "pytorch-fid state dict" and info["has_logits"]


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_would_run_code_is_refused_and_nothing_is_cached(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"Conv2d_1a_3x3.conv.weight": _RunsCode(str(marker))}, f)
    data_dir = tmp_path / "data"
    with pytest.raises(inception.InceptionError, match="refused") as e:
        inception_weights.prepare(str(data_dir), evil, log=lambda *_: None)
    assert "\n" not in str(e.value)
    assert not marker.exists()
    assert not inception.default_dir(str(data_dir)).exists()


def test_weights_of_another_network_are_named(params, tmp_path):
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in inception_weights.to_torchvision_state(params).items()}
    state["Mixed_6b.branch7x7_2.conv.weight"] = torch.zeros(128, 128, 7, 1)
    pth = tmp_path / "other.pth"
    torch.save(state, pth)
    with pytest.raises(inception.InceptionError,
                       match=r"mixed_4.*tower.*conv_1.*kernel.*shape \[7, 1, 128, 128\]"):
        inception_weights.prepare(str(tmp_path / "data"), pth, log=lambda *_: None)
    del state["fc.weight"], state["Mixed_7c.branch_pool.bn.bias"]
    torch.save(state, pth)
    with pytest.raises(inception.InceptionError, match="lacks 'Mixed_7c.branch_pool.bn.bias'"):
        inception_weights.read_file(pth)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(inception.InceptionError, match="refused"):
        inception_weights.read_file(junk)
    assert not inception.default_dir(str(tmp_path / "data")).exists()


def test_missing_or_damaged_weights_are_one_line_errors(params, tmp_path):
    with pytest.raises(inception.InceptionError) as e:
        inception.load(str(tmp_path))
    message = str(e.value)
    assert "\n" not in message and "gan-jax features prepare inception" in message
    assert "--weights" in message and "pytorch-fid" in message
    directory = inception.default_dir(str(tmp_path))
    inception.save(params, {"id": "inception-x", "has_logits": True,
                            "params_sha256": inception.params_sha256(params)}, directory)
    assert inception.read(directory).has_logits
    info = json.loads((directory / inception.INFO_FILE).read_text())
    info["params_sha256"] = "0" * 64
    (directory / inception.INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(inception.InceptionError, match="damaged"):
        inception.read(directory)


@pytest.fixture(scope="module")
def small_net_dir(tmp_path_factory, params):
    """Random weights without logits, saved as ``prepare`` saves them."""
    directory = tmp_path_factory.mktemp("inception") / "net"
    no_logits = {k: v for k, v in params.items() if k != "logits"}
    inception.save(no_logits, {"id": f"inception-{inception.params_sha256(no_logits)[:8]}",
                               "has_logits": False,
                               "params_sha256": inception.params_sha256(no_logits)}, directory)
    return directory


def test_inception_evaluator_keys_caches_and_resumes_its_reference(digits_dir, small_net_dir,
                                                                   monkeypatch, tmp_path):
    from conftest import make_image_config

    data = make_image_config(digits_dir).data
    monkeypatch.setattr(image_eval, "CHUNK", 8)
    calls = []
    original = image_eval.ImageEvaluator._real_features

    def failing_after_one_chunk(self, images):
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, images)

    monkeypatch.setattr(image_eval.ImageEvaluator, "_real_features", failing_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        image_eval.ImageEvaluator(data, 20, features="inception", inception_dir=small_net_dir,
                                  log=lambda *_: None)
    monkeypatch.setattr(image_eval.ImageEvaluator, "_real_features", original)
    ev = image_eval.ImageEvaluator(data, 20, features="inception", inception_dir=small_net_dir,
                                   log=lambda *_: None)
    net_id = inception.read(small_net_dir).id
    assert ev.reference_key == f"digits/train/8x8x1/{net_id}/tf_bilinear/n20"
    assert ev.reference_path.is_file() and ev.real_features.shape == (20, 2048)
    assert not list(ev.reference_path.parent.glob("*.partial.npz"))
    # Resumed: the first chunk came from the partial file, not computed again.
    fresh = image_eval.ImageEvaluator(data, 20, features="inception",
                                      inception_dir=small_net_dir, log=lambda *_: None)
    assert not fresh.computed_reference
    scores = ev.score_features(None, ev.real_features)
    # Unlabelled samples: every declared key but the conditional ones.
    assert set(scores) == set(ev.metric_names) - set(image_eval.CONDITIONAL_METRICS)
    assert "fid" in scores
    # FD of a set with itself: 0 up to the square root's rounding (20 points in 2048-d).
    assert abs(scores["fid"]) < 1e-5 * np.trace(ev.real_sigma)
    assert "inception_score" not in scores
    # Generated images in [-1, 1] are scored through the same network.
    images = np.random.default_rng(0).uniform(-1, 1, size=(8, 8, 8, 1)).astype(np.float32)
    assert ev(images)["fid"] > 1.0
    other = image_eval.ImageEvaluator(data, 20, features="inception", resize="pil_bicubic",
                                      inception_dir=small_net_dir, log=lambda *_: None)
    assert other.reference_key.endswith("/pil_bicubic/n20")
    assert not np.allclose(other.real_features, ev.real_features)


def test_eval_fields_are_validated(image_config):
    from gan_jax import configs
    from gan_jax.errors import ConfigError

    for field, value, needle in (
            ("eval_features", "vgg", "config.eval_features='vgg' must be one of auto"),
            ("eval_resize", "cubic", "config.eval_resize='cubic' must be one of"),
            ("eval_protocol", "fid1k", "config.eval_protocol='fid1k' must be none or one of")):
        config = image_config()
        config[field] = value
        with pytest.raises(ConfigError, match=needle):
            configs.validate(config)
    config = image_config()
    config.eval_every, config.best_metric = 2, "fid"
    with pytest.raises(ConfigError, match="unknown best_metric 'fid'"):
        configs.validate(config)
    config.eval_features = "inception"
    configs.validate(config)
    config.eval_protocol, config.eval_features = "fid10k_test", "lenet"
    with pytest.raises(ConfigError, match="uses the Inception features"):
        configs.validate(config)


def test_gan_jax_eval_reports_fid_with_its_reference_key(image_config, tmp_path, small_net_dir):
    import shutil

    from gan_jax.train import train_and_evaluate

    config = image_config()
    data_dir = config.data.data_dir
    target = inception.default_dir(data_dir)
    if not target.exists():
        shutil.copytree(small_net_dir, target)
    workdir = str(tmp_path / "run")
    train_and_evaluate(config, workdir)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-m", "gan_jax.main", "eval", "--workdir", workdir,
                          "--features", "inception", "--num_samples", "100"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "FID" in out.stdout and "Inception score unavailable" in out.stdout
    net_id = inception.read(target).id
    assert f"reference: digits/train/8x8x1/{net_id}/tf_bilinear/n100" in out.stdout
    with open(os.path.join(workdir, "eval.jsonl")) as f:
        row = json.loads(f.readlines()[-1])
    assert row["eval_features"] == "inception" and np.isfinite(row["eval/fid"])
    bad = subprocess.run([sys.executable, "-m", "gan_jax.main", "eval", "--workdir", workdir,
                          "--protocol", "fid10k_test", "--num_samples", "100"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "fixes the sample counts" in bad.stderr


@pytest.mark.parametrize("padding", [0, 1])
def test_convolution_lowerings_compute_the_same_unit(padding):
    # Every way ConvBN can compute a 3x3 stride-1 unit (XLA's convolution, one product of
    # patches, one product per tap, Winograd's F(2x2, 3x3); batched or image by image)
    # against XLA's convolution: 1e-5 of the largest output (float32 sums in another order).
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 11, 11, 5))
    base = inception.ConvBN(7, (3, 3), 1, (padding, padding), lowering="conv")
    variables = base.init(jax.random.PRNGKey(1), x)
    variables = jax.tree.map(lambda v: v + 0.3, variables)     # non-trivial batch norm
    ref = base.apply(variables, x)
    assert ref.shape == (2, 11 - 2 * (1 - padding), 11 - 2 * (1 - padding), 7)
    for lowering in ("auto", "patches", "taps", "winograd"):
        for per_image in (False, True):
            unit = inception.ConvBN(7, (3, 3), 1, (padding, padding), per_image=per_image,
                                    lowering=lowering)
            assert _relative_error(unit.apply(variables, x), ref) < 1e-5, (lowering, per_image)
    with pytest.raises(ValueError, match="3x3 stride-1"):
        inception.ConvBN(7, (3, 3), 2, lowering="winograd").apply(variables, x)
