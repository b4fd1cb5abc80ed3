"""The Dirac-GAN reproduction against closed forms and against the official notebook's rule.

Mescheder et al. 2018 drew their Dirac-GAN figures with the notebook of LMescheder/
GAN_stability (``notebooks/DiracGAN.ipynb`` and ``notebooks/diracgan/``). These tests hold
``experiments.paper.dirac_gan`` to plain-numpy implementations, written here from the
formulas, of

* every method's vector field v(theta, psi) in closed form, to 1e-10 (instance noise: its
  expectation by the trapezoid rule on a fine grid, at |theta|, |psi| <= 1.5, the region its
  trajectories visit, where the run's 40-point Gauss-Hermite quadrature is exact to 1e-10);
* the notebook's update rule: psi clipped into the WGAN range at the start and after every
  step; simultaneous steps of both players; alternating iterations of one G step and then
  n_d D steps, each at the other player's newest value (and, for the simulation-defaults
  protocol, the D steps first and no clipping at the start); every iterate of 500 to 1e-9.
  WGAN-GP's field jumps by 2 gamma g0 at psi = 0, and gan_jax's gradient norm is
  sqrt(|g|^2 + 1e-12), i.e. |psi| is read as sqrt(psi^2 + 1e-12 g0^2): the reference uses
  the same reading, and a separate test holds the notebook protocol's WGAN-GP to the
  notebook's exact |psi| to 1e-5 (the simulation defaults' n_d = 5 run slides along psi = 0,
  where the two readings part: the exact |psi| stops at (-0.3, 0), the smoothed one orbits).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.paper import dirac_gan

H = dirac_gan.H
EPS_GRID = np.linspace(-12.0, 12.0, 6001)   # instance noise: eps = std * EPS_GRID
EPS_DENSITY = np.exp(-0.5 * EPS_GRID ** 2) / np.sqrt(2.0 * np.pi)


def f1(t):
    """f'(t) for f(t) = -log(1 + exp(-t))."""
    return 1.0 / (1.0 + np.exp(t))


def f2(t):
    """f''(t) for f(t) = -log(1 + exp(-t))."""
    return -f1(t) * (1.0 - f1(t))


def expect(values):
    """E over eps ~ N(0, std^2) of values computed on the grid eps = std * EPS_GRID."""
    return np.trapezoid(values * EPS_DENSITY, EPS_GRID)


def closed_form_field(method: dirac_gan.Method, theta: float, psi: float,
                      smoothed_norm: bool = True) -> np.ndarray:
    """v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi) from the Dirac-GAN's formulas; WGAN-GP
    reads |psi| as sqrt(psi^2 + 1e-12 g0^2) (gan_jax) or, without ``smoothed_norm``, exactly."""
    t = psi * theta
    if method.loss == "wasserstein":
        v = np.array([-psi, theta])
    elif method.noise_std > 0:
        eps = method.noise_std * EPS_GRID
        fake = theta + eps
        v = np.array([-psi * expect(f1(psi * fake)),
                      expect(fake * f1(psi * fake))
                      - expect(eps * f1(-psi * eps))])
    elif method.loss == "nonsaturating":
        v = np.array([-psi * f1(-t), theta * f1(t)])
    else:
        v = np.array([-psi * f1(t), theta * f1(t)])
    if method.penalty in ("r1", "r2"):
        v[1] -= method.gamma * psi
    if method.penalty == "gp":
        g0 = method.gp_target
        norm = np.sqrt(psi ** 2 + 1e-12 * g0 ** 2) if smoothed_norm else abs(psi)
        slope = psi / norm if smoothed_norm else np.sign(psi)
        v[1] -= method.gamma * (norm - g0) * slope
    if method.consensus:
        # grad |v|^2/2 = f'^2 (theta, psi) + r^2 f' f'' (psi, theta); the official code
        # halves the second term.
        share = 1.0 if method.consensus_form == "exact" else 0.5
        r2 = theta ** 2 + psi ** 2
        grad = (f1(t) ** 2 * np.array([theta, psi])
                + share * r2 * f1(t) * f2(t) * np.array([psi, theta]))
        v = v - method.consensus * grad
    return v


def notebook_trajectory(method, scheme, n_disc, g_first, clip_start, num_steps,
                        smoothed_norm=True):
    """The notebook's update rule in plain numpy, on the closed-form field: iterates
    [num_steps + 1, 2] from (1, 1)."""
    def post(theta, psi):
        return theta, (float(np.clip(psi, -method.clip, method.clip)) if method.clip else psi)

    def field(theta, psi):
        return closed_form_field(method, theta, psi, smoothed_norm)

    theta, psi = dirac_gan.START
    if clip_start:
        theta, psi = post(theta, psi)
    out = [(theta, psi)]
    for _ in range(num_steps):
        if scheme == "simultaneous":
            v = field(theta, psi)
            theta, psi = post(theta + H * v[0], psi + H * v[1])
        else:
            if g_first:
                theta, psi = post(theta + H * field(theta, psi)[0], psi)
            for _ in range(n_disc):
                theta, psi = post(theta, psi + H * field(theta, psi)[1])
            if not g_first:
                theta, psi = post(theta + H * field(theta, psi)[0], psi)
        out.append((theta, psi))
    return np.array(out)


def _all_methods():
    for pname, protocol in dirac_gan.PROTOCOLS.items():
        for name, method in protocol.methods.items():
            yield pname, name, method
    for gamma in dirac_gan.CONSENSUS_GAMMAS:
        yield "notebook", f"consensus_official_{gamma:g}", dirac_gan.consensus_method(
            gamma, "official")


METHODS = list(_all_methods())


def test_the_notebook_settings():
    """The settings read from the notebook (its plot_configs, trajectory_* functions)."""
    nb = dirac_gan.PROTOCOLS["notebook"]
    m = nb.methods
    assert nb.g_first and nb.clip_start
    assert m["wgan"].clip == 1.0
    assert (m["wgan_gp"].gamma, m["wgan_gp"].gp_target) == (0.7, 1.0)
    assert m["instance_noise"].noise_std == 0.7
    assert m["consensus"].consensus == 1.0 and m["consensus"].consensus_form == "exact"
    assert (m["r1"].gamma, m["r1_critical"].gamma, m["nsgan_r1"].gamma) == (0.3, 1.0, 0.3)
    defaults = dirac_gan.PROTOCOLS["simulation_defaults"]
    assert not defaults.g_first and not defaults.clip_start
    d = defaults.methods
    assert (d["wgan"].clip, d["wgan_gp"].gamma, d["wgan_gp"].gp_target) == (0.3, 1.0, 0.3)
    assert (d["instance_noise"].noise_std, d["consensus"].consensus) == (1.0, 0.3)
    assert (dirac_gan.H, dirac_gan.NUM_STEPS, dirac_gan.START) == (0.2, 500, (1.0, 1.0))
    np.testing.assert_array_equal(dirac_gan.start_point(d["wgan"], True), [1.0, 0.3])
    np.testing.assert_array_equal(dirac_gan.start_point(d["wgan"], False), [1.0, 1.0])


def test_vector_fields_match_the_closed_forms():
    rng = np.random.default_rng(0)
    wide = np.concatenate([rng.uniform(-2.0, 2.0, (6, 2)), [[0.4, 9.0], [-1.5, 0.05]]])
    near = rng.uniform(-1.5, 1.5, (8, 2))
    with jax.enable_x64(True):
        for pname, name, method in METHODS:
            points = near if method.noise_std > 0 else wide
            ours = np.asarray(dirac_gan._field_on(method, jnp.asarray(points, jnp.float64)))
            paper = np.array([closed_form_field(method, *p) for p in points])
            np.testing.assert_allclose(ours, paper, rtol=1e-10, atol=1e-10,
                                       err_msg=f"{pname}/{name}")


@pytest.mark.parametrize("pname,name,method", METHODS, ids=[f"{p}/{n}" for p, n, _ in METHODS])
def test_trajectories_follow_the_notebook_update_rule(pname, name, method):
    protocol = dirac_gan.PROTOCOLS[pname]
    with jax.enable_x64(True):
        ours = dirac_gan.trajectories(method, dirac_gan.NUM_STEPS, protocol.g_first,
                                      protocol.clip_start)
    for scheme, n_disc in dirac_gan.SCHEMES:
        ref = notebook_trajectory(method, scheme, n_disc, protocol.g_first,
                                  protocol.clip_start, dirac_gan.NUM_STEPS)
        np.testing.assert_allclose(ours[dirac_gan._key(scheme, n_disc)], ref, rtol=0,
                                   atol=1e-9, err_msg=f"{pname}/{name}/{scheme}/{n_disc}")


def test_notebook_wgan_gp_follows_the_exact_norm():
    """The notebook protocol's WGAN-GP against the notebook's own |psi| and sign(psi)."""
    method = dirac_gan.PROTOCOLS["notebook"].methods["wgan_gp"]
    with jax.enable_x64(True):
        ours = dirac_gan.trajectories(method, dirac_gan.NUM_STEPS, True, True)
    for scheme, n_disc in dirac_gan.SCHEMES:
        ref = notebook_trajectory(method, scheme, n_disc, True, True, dirac_gan.NUM_STEPS,
                                  smoothed_norm=False)
        np.testing.assert_allclose(ours[dirac_gan._key(scheme, n_disc)], ref, rtol=0,
                                   atol=1e-5, err_msg=f"{scheme}/{n_disc}")


def test_consensus_forms_agree_at_the_equilibrium_and_differ_from_1_1():
    """Same Jacobian at (0, 0) (the halved term is cubic there); at gamma = 1 with n_d = 5
    the official form converges and the exact one does not."""
    exact, official = (dirac_gan.consensus_method(1.0, f) for f in ("exact", "official"))
    key = dirac_gan._key("alternating", 5)
    with jax.enable_x64(True):
        zero = jnp.zeros(2, jnp.float64)
        j_exact, j_official = (
            jax.jit(jax.jacfwd(lambda p, m=m: dirac_gan.vector_field(m, p)))(zero)
            for m in (exact, official))
        ends = {m.consensus_form: dirac_gan.trajectories(m, dirac_gan.NUM_STEPS, True,
                                                         True)[key][-1]
                for m in (exact, official)}
    np.testing.assert_allclose(j_exact, j_official, atol=1e-15)
    np.testing.assert_allclose(j_exact, dirac_gan.analytic_jacobian(exact), atol=1e-15)
    assert np.hypot(*ends["official"]) < dirac_gan.CONVERGED
    assert ends["exact"][1] > 5.0
    with pytest.raises(ValueError, match="official consensus form"):
        dirac_gan.consensus_gradient(
            dirac_gan.Method("x", "wasserstein", consensus=1.0, consensus_form="official"),
            jnp.ones(2))


def test_alternating_eigenvalues_do_not_depend_on_the_order():
    """G-first and D-first operators differ, their eigenvalues (A B vs B A) do not."""
    method = dirac_gan.PROTOCOLS["notebook"].methods["r1"]
    key = dirac_gan._key("alternating", 5)
    with jax.enable_x64(True):
        g_first = dirac_gan.simulate(method, 5, g_first=True)[1][key]
        d_first = dirac_gan.simulate(method, 5, g_first=False)[1][key]
    assert np.max(np.abs(g_first - d_first)) > 1e-3
    for jac in (g_first, d_first):
        np.testing.assert_allclose(
            np.sort_complex(np.linalg.eigvals(jac)),
            np.sort_complex(dirac_gan.analytic_eigenvalues(method, "alternating", 5)),
            atol=1e-12)
