"""The unrolled G gradient against closed forms, and experiments/paper/unrolled.py --quick.

Two games where psi_K(theta), D's parameters after K SGD steps, and d f(theta, psi_K(theta))
/ d theta are known exactly (float64 NumPy), compared with gan_jax.steps.g_loss_fn and with
the trainer of experiments/paper/unrolled.py (float32; tolerance rtol 1e-5, atol 1e-6):

* bilinear (the WGAN critic loss): G(z) = theta in R^2, D(x) = psi . x, real batch r.
  D's loss is psi . (theta - mean r), so psi_K = psi_0 - K eta (theta - mean r), and G's
  loss -psi_K . theta has the gradient -psi_0 + K eta (2 theta - mean r); without the
  second term (psi_K held fixed) it would be -psi_K.
* cross-entropy in 1-D: G(z) = theta, D(x) = psi x; psi_{k+1} = psi_k - eta g(psi_k, theta)
  with g = dL_D/dpsi, and J_k = dpsi_k/dtheta follows J_{k+1} = J_k - eta (g_psi J_k +
  g_theta) with g_psi, g_theta written out; G's non-saturating loss softplus(-psi_K theta)
  has the gradient -sigmoid(-psi_K theta) (psi_K + theta J_K).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.paper import unrolled
from gan_jax import losses, state as state_lib, steps

RTOL, ATOL = 1e-5, 1e-6
ETA = 0.3


class ConstantG(nn.Module):
    """G(z) = theta for every latent."""

    dim: int

    @nn.compact
    def __call__(self, z, y=None, *, train=True):
        theta = self.param("theta", nn.initializers.zeros, (self.dim,))
        return jnp.broadcast_to(theta, (z.shape[0], self.dim))


class LinearD(nn.Module):
    """D(x) = psi . x."""

    dim: int

    @nn.compact
    def __call__(self, x, y=None, *, train=True):
        return x @ self.param("psi", nn.initializers.zeros, (self.dim,))


def _gan_and_state(loss: str, dim: int, k: int, theta, psi):
    d_tx = optax.sgd(ETA)
    gan = state_lib.GAN(generator=ConstantG(dim), discriminator=LinearD(dim),
                        g_tx=optax.sgd(1.0), d_tx=d_tx, objective=losses.get_objective(loss),
                        latent_dim=1, data_shape=(dim,), n_disc=1, ema_decay=0.0,
                        unroll_steps=k)
    g_params = {"theta": jnp.asarray(theta, jnp.float32)}
    d_params = {"psi": jnp.asarray(psi, jnp.float32)}
    state = state_lib.GANState(
        step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
        g_batch_stats={}, d_batch_stats={}, g_opt_state=gan.g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params), ema_g_params=None, rng=jax.random.PRNGKey(0))
    return gan, state


def _gan_jax_grad(loss: str, k: int, theta, psi, real) -> np.ndarray:
    """d/dtheta of gan_jax.steps.g_loss_fn through k unrolled D updates."""
    dim = len(theta)
    gan, state = _gan_and_state(loss, dim, k, theta, psi)
    b = real.shape[0]
    z = jnp.zeros((b, 1), jnp.float32)
    unroll = None if k == 0 else (jnp.zeros((k, b, 1), jnp.float32), None)
    example = {"image": jnp.asarray(real, jnp.float32)}

    def grad(_):
        return jax.grad(lambda g: steps.g_loss_fn(gan, state, g, z, None, example, unroll,
                                                  jax.random.PRNGKey(1))[0])(state.g_params)

    # The step's collectives need the mapped axis; one "device".
    out = jax.vmap(grad, axis_name=steps.AXIS)(jnp.zeros((1,)))
    return np.asarray(out["theta"][0], np.float64)


def _bilinear(k, theta, psi, real, second_order=True):
    r = real.mean(0)
    psi_k = psi - k * ETA * (theta - r)
    return -psi + k * ETA * (2 * theta - r) if second_order else -psi_k


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _cross_entropy(k, theta, psi, real, second_order=True):
    theta, psi, r = float(theta[0]), float(psi[0]), real[:, 0]
    j = 0.0
    for _ in range(k):
        s_r, s_f = _sigmoid(-psi * r), _sigmoid(psi * theta)
        g = np.mean(-r * s_r) + theta * s_f
        g_psi = np.mean(r * r * s_r * (1 - s_r)) + theta * theta * s_f * (1 - s_f)
        g_theta = s_f + theta * psi * s_f * (1 - s_f)
        psi, j = psi - ETA * g, j - ETA * (g_psi * j + g_theta)
    j = j if second_order else 0.0
    return np.array([-_sigmoid(-psi * theta) * (psi + theta * j)])


THETA2, PSI2 = np.array([0.7, -1.2]), np.array([0.4, 0.9])
REAL2 = np.array([[1.0, 0.5], [-0.3, 2.0], [0.8, -1.1]])
THETA1, PSI1 = np.array([0.8]), np.array([0.6])
REAL1 = np.array([[1.5], [-0.5], [2.0], [1.0]])


@pytest.mark.parametrize("k", [0, 1, 4])
def test_gan_jax_unrolled_gradient_bilinear(k):
    want = _bilinear(k, THETA2, PSI2, REAL2)
    got = _gan_jax_grad("wasserstein", k, THETA2, PSI2, REAL2)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    if k:  # the second term is there: the first-order gradient is far from it
        assert np.abs(got - _bilinear(k, THETA2, PSI2, REAL2, False)).max() > 0.1


@pytest.mark.parametrize("k", [0, 1, 3])
def test_gan_jax_unrolled_gradient_cross_entropy(k):
    want = _cross_entropy(k, THETA1, PSI1, REAL1)
    got = _gan_jax_grad("nonsaturating", k, THETA1, PSI1, REAL1)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    if k:
        assert np.abs(got - _cross_entropy(k, THETA1, PSI1, REAL1, False)).max() > 1e-3


def test_k0_is_the_ordinary_generator_gradient():
    """unroll_steps = 0 through g_step is the plain gradient of g_loss(D(G(z)))."""
    gan, state = _gan_and_state("nonsaturating", 2, 0, THETA2, PSI2)
    real = {"image": jnp.asarray(REAL2, jnp.float32)}

    def step(_):
        return steps.g_step(gan, state, jax.random.PRNGKey(3), 3, real)[0]

    new = jax.vmap(step, axis_name=steps.AXIS)(jnp.zeros((1,)))
    got = np.asarray(state.g_params["theta"] - new.g_params["theta"][0])  # SGD, lr 1
    want = jax.grad(lambda t: jnp.mean(jax.nn.softplus(-(jnp.ones((3, 1)) * t) @ PSI2)))(
        jnp.asarray(THETA2, jnp.float32))
    np.testing.assert_allclose(got, np.asarray(want), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("k", [0, 2, 5])
def test_paper_trainer_unrolled_objective(k):
    """experiments/paper/unrolled.py's f(theta, psi_K(theta)), bilinear, with and without
    the second term: df/dtheta = psi_0 - 2 K eta (theta - mean r), and psi_K without it."""
    r = jnp.asarray(REAL2.mean(0), jnp.float32)

    def d_loss(theta, psi):
        return jnp.dot(psi, theta - r)

    theta, psi = jnp.asarray(THETA2, jnp.float32), jnp.asarray(PSI2, jnp.float32)
    tx = optax.sgd(ETA)
    for second_order, want in ((True, PSI2 - 2 * k * ETA * (THETA2 - REAL2.mean(0))),
                               (False, PSI2 - k * ETA * (THETA2 - REAL2.mean(0)))):
        f = unrolled.unrolled_objective(d_loss, tx, k, second_order)
        got = jax.grad(f)(theta, psi, tx.init(psi))
        np.testing.assert_allclose(np.asarray(got), want, rtol=RTOL, atol=ATOL)


def test_unknown_dataset_is_one_line():
    with pytest.raises(ValueError, match="dataset='moons'.*allowed: ring8, grid25"):
        unrolled.mixture_of(unrolled.VEEGAN2017, "moons")


def test_quick_run(tmp_path):
    record = unrolled.run(str(tmp_path), quick=True)
    assert record["checks"]["every table entry is finite"]
    table = record["numbers"]["table"]
    assert set(table) == {"veegan2017-ring8", "metz2017-ring8"}
    for cell in table.values():
        assert 0 <= cell["modes_captured"]["mean"] <= 8
        assert 0.0 <= cell["high_quality"]["mean"] <= 1.0
    assert (tmp_path / "unrolled.png").exists()


def test_uniform_grid_baseline_matches_its_expectation():
    """2,500 uniform draws on [-5, 5]^2: about 20.7 modes and 1.8% high quality."""
    b = unrolled.uniform_grid_baseline()
    assert abs(b["sampled"]["modes_captured"] - b["expected"]["modes_captured"]) <= 3
    assert abs(b["sampled"]["high_quality"] - b["expected"]["high_quality"]) < 0.006


def test_an_ablation_is_read_beside_the_main_cell_at_its_own_step():
    def summary(m, hq):
        return {"modes_captured": {"mean": m, "sem": 0.0}, "high_quality": {"mean": hq, "sem": 0.0},
                "reverse_kl": {"mean": 0.1, "sem": 0.0}}

    base = {**summary(23.0, 0.2), "steps_done": 4_000,
            "curve": [{"step": s, **summary(m, hq)}
                      for s, m, hq in ((2_000, 17.0, 0.05), (4_000, 23.0, 0.2))]}
    k0 = {**summary(10.0, 0.02), "steps_done": 2_000, "curve": []}
    notes = unrolled.notes({"veegan2017-grid25": base, "veegan2017-grid25-k0": k0})
    assert notes["ablations_on_grid25"]["k0"] == (
        "K = 0 (plain GAN): 10.0 modes, 2.0% HQ (veegan2017 at 2,000: 17.0 modes, 5.0% HQ)")
    assert notes["modes_along_the_run"]["veegan2017-grid25"] == {"2000": 17.0, "4000": 23.0}
