"""AC-GAN (Odena et al. 2017): the auxiliary classifier on D and its class terms."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, losses, models, state as state_lib, steps
from gan_jax.configs import base_config
from gan_jax.models import conditioning

SPEC = data.Spec((8, 8, 1), (-1.0, 1.0), 10)


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    m = logits.max(axis=1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))


def test_class_terms_match_a_hand_computation():
    real = np.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 4.0, 1.0]], np.float32)
    fake = np.array([[1.0, 1.0, -2.0], [0.3, -0.7, 2.2], [5.0, 0.0, -5.0]], np.float32)
    y_real, y_fake = np.array([0, 2, 1]), np.array([1, 2, 0])
    ce_real = -np.mean(_log_softmax(real)[np.arange(3), y_real])
    ce_fake = -np.mean(_log_softmax(fake)[np.arange(3), y_fake])
    # Uniform logits: CE = log K exactly.
    np.testing.assert_allclose(losses.class_cross_entropy(jnp.zeros((4, 7)), jnp.arange(4)),
                               np.log(7.0), rtol=1e-6)
    np.testing.assert_allclose(losses.class_cross_entropy(jnp.asarray(real), y_real), ce_real,
                               rtol=1e-6)
    np.testing.assert_allclose(losses.acgan_d_term(real, y_real, fake, y_fake, 0.5),
                               0.5 * (ce_real + ce_fake), rtol=1e-6)
    np.testing.assert_allclose(losses.acgan_g_term(fake, y_fake, 2.0), 2.0 * ce_fake,
                               rtol=1e-6)


def _pair(name, spec=SPEC, **fields):
    return models.build_models(models.model_config(name, **fields), spec)


@pytest.mark.parametrize("name, spec, fields", [
    ("mlp", data.Spec((2,), None, 8), {"hidden": 8, "depth": 2}),
    ("dcgan", SPEC, {"latent_dim": 16}),
    ("dcgan64", data.Spec((64, 64, 3), (-1.0, 1.0), 5), {"f": 4}),
])
def test_d_keeps_its_scores_and_sows_class_logits(name, spec, fields):
    g, d = _pair(name, spec, conditioning="acgan", acgan_weight=0.5, **fields)
    k = spec.num_classes
    assert conditioning.acgan_weight(d) == 0.5
    assert conditioning.acgan_weight(_pair(name, spec, **fields)[1]) == 0.0
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 16))
    y0, y1 = jnp.zeros(4, jnp.int32), jnp.arange(4, dtype=jnp.int32) % k
    gv = g.init(jax.random.PRNGKey(1), z, y0, train=False)
    # G takes the label (one-hot appended to z).
    x0, x1 = g.apply(gv, z, y0, train=False), g.apply(gv, z, y1, train=False)
    assert x0.shape == (4, *spec.shape) and not np.allclose(x0, x1)
    dv = d.init(jax.random.PRNGKey(2), x0, y0, train=False)
    assert "intermediates" not in dv
    assert dv["params"]["aux_classifier"]["kernel"].shape[-1] == k
    scores = d.apply(dv, x0, y0, train=False)
    assert scores.shape == (4,)
    # The score is unconditional; the class logits come beside it.
    np.testing.assert_array_equal(scores, d.apply(dv, x0, y1, train=False))
    out, logits, stats = conditioning.apply_with_class_logits(
        d, dv["params"], dv.get("batch_stats", {}), x0, y0)
    assert out.shape == (4,) and logits.shape == (4, k) and logits.dtype == jnp.float32
    assert jax.tree.structure(stats) == jax.tree.structure(dv.get("batch_stats", {}))


def _gan(weight=1.0, loss="hinge", regularizers=None):
    c = base_config()
    c.model = models.model_config("dcgan", latent_dim=16, conditioning="acgan",
                                  acgan_weight=weight)
    c.loss = loss
    if regularizers:
        c.regularizers = regularizers
    return c, state_lib.make_gan(c, SPEC, axis_name=None)


def _on_one_device(fn):
    """Runs ``fn`` inside shard_map over a one-device mesh (the steps' axis is bound)."""
    mesh = steps.make_mesh(jax.devices()[:1])
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=(), out_specs=jax.sharding.PartitionSpec(),
                                 check_vma=False))()


def test_d_loss_is_the_objective_plus_the_class_terms_and_penalties_read_the_scores():
    c, gan = _gan(0.7, "hinge", {"r1": 2.0})
    state = state_lib.init_state(gan, 0)
    rng = np.random.default_rng(0)
    real = {"image": jnp.asarray(rng.uniform(-1, 1, (6, 8, 8, 1)), jnp.float32),
            "label": jnp.asarray(rng.integers(0, 10, 6), jnp.int32)}
    fake = {"image": jnp.asarray(rng.uniform(-1, 1, (6, 8, 8, 1)), jnp.float32),
            "label": jnp.asarray(rng.integers(0, 10, 6), jnp.int32)}
    key = jax.random.PRNGKey(3)

    def ours():
        total, aux = steps.d_loss_terms(gan, state.d_params, state.d_batch_stats, real, fake,
                                        key, state.step)
        return total, aux[3], aux[4][0]

    total, d_loss, penalty = _on_one_device(ours)
    d = gan.discriminator
    s_real, c_real, stats = conditioning.apply_with_class_logits(
        d, state.d_params, state.d_batch_stats, real["image"], real["label"])
    s_fake, c_fake, stats = conditioning.apply_with_class_logits(
        d, state.d_params, stats, fake["image"], fake["label"])
    ce = (-np.mean(_log_softmax(c_real)[np.arange(6), real["label"]])
          - np.mean(_log_softmax(c_fake)[np.arange(6), fake["label"]]))
    hinge = float(losses.hinge_d_loss(s_real, s_fake))
    np.testing.assert_allclose(d_loss, hinge + 0.7 * ce, rtol=2e-5)

    # R1 on the scores alone: 2 * E ||grad_x D(x)||^2 / 2 of the score output.
    def score_sum(x):
        return jnp.sum(gan.d_apply(state.d_params, stats, x, real["label"], train=True)[0])

    grads = jax.grad(score_sum)(real["image"])
    r1 = 2.0 * 0.5 * float(jnp.mean(jnp.sum(grads.reshape(6, -1) ** 2, axis=1)))
    np.testing.assert_allclose(penalty, r1, rtol=1e-4)
    np.testing.assert_allclose(total, d_loss + penalty, rtol=1e-6)


def test_g_gradient_flows_through_the_class_term():
    """G's loss is linear in the weight: grad(w=2) - grad(w=1) is the gradient of the class
    term alone, which must reach every G parameter (and equal grad(w=3) - grad(w=2))."""
    grads = {}
    z = jax.random.normal(jax.random.PRNGKey(4), (8, 16))
    y = jnp.arange(8, dtype=jnp.int32)
    for w in (1.0, 2.0, 3.0):
        _, gan = _gan(w, "nonsaturating")
        state = state_lib.init_state(gan, 0)

        def loss(g_params, gan=gan, state=state):
            return steps.g_loss_fn(gan, state, g_params, z, y, None, None,
                                   jax.random.PRNGKey(5))[0]

        grads[w] = _on_one_device(lambda gan=gan, state=state, loss=loss:
                                  jax.grad(loss)(state.g_params))
    class_grad = jax.tree.map(lambda a, b: a - b, grads[2.0], grads[1.0])
    norms = {jax.tree_util.keystr(p): float(jnp.linalg.norm(v))
             for p, v in jax.tree_util.tree_leaves_with_path(class_grad)}
    assert all(n > 0 for n in norms.values()), norms
    again = jax.tree.map(lambda a, b: a - b, grads[3.0], grads[2.0])
    flat, flat_again = (np.concatenate([np.ravel(v) for v in jax.tree.leaves(t)])
                        for t in (class_grad, again))
    # float32 differences of sums: equal to 1e-3 of the class gradient's norm.
    assert np.linalg.norm(flat_again - flat) <= 1e-3 * np.linalg.norm(flat)


def test_acgan_is_validated_against_the_data_and_its_weight():
    unlabelled = data.Spec((8, 8, 1), (-1.0, 1.0), None)
    with pytest.raises(ValueError, match="conditioning='acgan' needs labelled data"):
        _pair("dcgan", unlabelled, conditioning="acgan")
    with pytest.raises(ValueError, match="acgan_weight=0.0 must be positive"):
        _pair("dcgan", conditioning="acgan", acgan_weight=0.0)
    with pytest.raises(ValueError, match="config.model.acgan_weight='1' must be a number"):
        _pair("mlp", data.Spec((2,), None, 8), conditioning="acgan", acgan_weight="1")
    with pytest.raises(ValueError, match="unknown conditioning 'concat'.*dcgan64.*none, acgan"):
        _pair("dcgan64", data.Spec((64, 64, 3), (-1.0, 1.0), 5), conditioning="concat")
    # Other conditionings build no classifier whatever the weight field says.
    _, d = _pair("dcgan", conditioning="cbn+projection", acgan_weight=3.0)
    assert conditioning.acgan_weight(d) == 0.0


@pytest.mark.parametrize("conditioned", [True, False])
def test_a_short_acgan_run_draws_the_requested_classes(image_config, tmp_path, monkeypatch,
                                                       conditioned):
    """300 steps of AC-GAN on the 8x8 digits (batch 32, Adam 2e-3, weight 1): the digits
    LeNet must classify at least 60% of 500 samples as the class they were generated for
    (chance: 10%). Measured: 0.898 (intra-class FD-LeNet 53.5, FD-LeNet 26.9). The same
    run with a G whose labels are all replaced by class 0 (it ignores y) stays at chance
    (measured 0.096; intra-class FD-LeNet 283.7) and must fail."""
    from gan_jax.models import dcgan
    from gan_jax.train import train_and_evaluate

    steps_ = 300
    config = image_config(steps=steps_, fields={
        "model.conditioning": "acgan", "batch_size": 32, "optim.g.lr": 2e-3,
        "optim.d.lr": 2e-3, "eval_every": steps_, "eval_samples": 500, "log_every": steps_,
        "sample_every": steps_, "checkpoint_every": steps_})
    workdir = str(tmp_path / "run")
    if not conditioned:
        # G blind to y: the AC-GAN generator with every label replaced by class 0.
        class Blind(dcgan.DCGANGenerator):
            def __call__(self, z, y=None, *, train=True):
                return super().__call__(z, None if y is None else jnp.zeros_like(y),
                                        train=train)

        monkeypatch.setattr(dcgan, "DCGANGenerator", Blind)
    train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    accuracy = last["eval/class_accuracy"]
    print(f"AC-GAN, G {'given' if conditioned else 'blind to'} y: class accuracy {accuracy}, "
          f"intra-class FD-LeNet {last['eval/intra_fd_lenet']}, FD-LeNet {last['eval/fd_lenet']}")
    assert (accuracy >= 0.6) == conditioned, accuracy
