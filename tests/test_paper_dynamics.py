"""Shortened paper reproductions 5 and 6: the Dirac-GAN and the mode-collapse protocol.

Key numbers with stated tolerances: the Dirac-GAN's Jacobian eigenvalues against the closed
forms of Mescheder et al. 2018 (1e-6), R1 converging and the unregularised GAN not; the
perfect ring-8 / grid-25 sampler scoring every mode and ~98.9% high quality; the quick
mode-collapse table finite; and gan_jax.toy_seeds matching the one-seed train step.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import ring8 as ring8_config
from experiments.paper import common, dirac_gan, mode_collapse
from gan_jax import sampling, state as state_lib, steps, toy_seeds
from gan_jax.data import synthetic
from gan_jax.models import model_config

# P(|x - mu| <= 3 std) for a 2-D isotropic Gaussian: P(chi^2_2 <= 9) = 1 - exp(-4.5).
HQ_2D = 1.0 - np.exp(-4.5)


def test_dirac_gan_quick(tmp_path):
    record = common.execute(dirac_gan.run, "dirac_gan", str(tmp_path), quick=True)
    assert os.path.exists(tmp_path / "dirac_gan.png")
    numbers = record["numbers"]
    assert numbers["main_protocol"] == "notebook"
    for protocol in ("notebook", "simulation_defaults"):
        distances = numbers["protocols"][protocol]["final_distance"]
        for key, distance in distances["r1"].items():
            assert distance < dirac_gan.CONVERGED, (protocol, key)
        for key, distance in distances["gan"].items():
            assert distance >= dirac_gan.NOT_SHRUNK * numbers["start_distance"], (protocol, key)
    assert numbers["consensus_forms"]["notebook"]["gamma=1"]["convergence_differs"] == [
        "alternating/n_disc=5"]
    assert numbers["max_eigenvalue_error"] < dirac_gan.EIG_TOL
    assert all(record["checks"].values()), record["checks"]


def test_dirac_gan_closed_forms():
    """The paper's values themselves: 1 +- i h f'(0) and the alternating |lambda| = 1."""
    h, a = dirac_gan.H, dirac_gan.F1_GAN
    methods = dirac_gan.PROTOCOLS["notebook"].methods
    gan = methods["gan"]
    np.testing.assert_allclose(np.sort_complex(dirac_gan.analytic_eigenvalues(gan, "continuous")),
                               [-0.5j, 0.5j], atol=1e-15)
    np.testing.assert_allclose(
        np.sort_complex(dirac_gan.analytic_eigenvalues(gan, "simultaneous")),
        [1 - 1j * h * a, 1 + 1j * h * a], atol=1e-15)
    np.testing.assert_allclose(np.abs(dirac_gan.analytic_eigenvalues(gan, "alternating", 5)),
                               1.0, atol=1e-12)
    for name in ("r1", "r1_critical"):
        gamma = methods[name].gamma
        np.testing.assert_allclose(
            np.sort_complex(dirac_gan.analytic_eigenvalues(methods[name], "continuous")),
            np.sort_complex(-gamma / 2
                            + np.array([1, -1]) * np.sqrt(complex(gamma ** 2 / 4 - a ** 2))),
            atol=1e-15)


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_perfect_sampler_scores_every_mode(name, k):
    stats = mode_collapse.perfect_sampler_stats(name)
    assert stats["modes_captured"] == k
    # 2,500 draws: the binomial std of the share is 0.002; 0.01 is ~5 std.
    assert abs(stats["high_quality"] - HQ_2D) < 0.01
    assert stats["reverse_kl"] < 0.02  # ~ (K - 1) / (2 N) for a uniform histogram


def test_ring8_has_eight_distinct_modes():
    config = mode_collapse.make_config("nonsaturating", "ring8", 1)
    means = np.asarray(synthetic.make_mixture(config.data).means, np.float64)
    assert means.shape == (8, 2)
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + 10 * np.eye(8)
    # Endpoint-exclusive angles 2 pi k / 8: neighbours 2 sin(pi / 8) apart; an
    # endpoint-inclusive linspace would put modes 0 and 7 on top of each other.
    np.testing.assert_allclose(gaps.min(), 2 * np.sin(np.pi / 8), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-6)


def test_mode_collapse_quick(tmp_path):
    record = common.execute(mode_collapse.run, "mode_collapse", str(tmp_path), quick=True)
    with open(tmp_path / "mode_collapse.json") as f:
        assert json.load(f)["numbers"]["table"] == record["numbers"]["table"]
    assert os.path.exists(tmp_path / "mode_collapse.png")
    assert all(record["checks"].values()), record["checks"]
    table = record["numbers"]["table"]
    for dataset, k in (("ring8", 8),):
        for method in mode_collapse.QUICK_METHODS:
            cell = table[dataset][method]
            assert 0 <= cell["modes_captured"]["min"] <= cell["modes_captured"]["max"] <= k
            assert 0 <= cell["reverse_kl"]["mean"] <= np.log(k) + 1e-9
            assert np.isfinite(cell["high_quality"]["std"])


def test_toy_seeds_matches_the_one_seed_train_step():
    config = ring8_config.get_config()
    # A small graph keeps the three compilations (vmapped scan, one-seed step, sampling) cheap.
    config.model.hidden, config.model.depth, config.batch_size, config.num_steps = 8, 1, 16, 2
    seeds = [3, 5]
    stacked = toy_seeds.train_seeds(config, seeds)
    samples = toy_seeds.sample_seeds(config, stacked, seeds, num=64)
    gan, source = toy_seeds._setup(config)
    step = steps.parallelize(gan, steps.make_mesh(jax.devices()[:1]), config.batch_size,
                             source.sample)
    for i, seed in enumerate(seeds):
        state = state_lib.init_state(gan, seed)
        for _ in range(config.num_steps):
            state, _ = step(state, None)
        mine = jax.tree.map(lambda x, i=i: x[i], stacked)
        for a, b in zip(jax.tree.leaves(mine.g_params) + jax.tree.leaves(mine.d_params),
                        jax.tree.leaves(state.g_params) + jax.tree.leaves(state.d_params),
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        assert int(mine.step) == config.num_steps
        z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), sampling.PICTURES),
                              (64, gan.latent_dim), jnp.float32)
        np.testing.assert_allclose(samples[i], gan.g_apply(state.g_params, {}, z),
                                   rtol=1e-4, atol=1e-5)


def test_toy_seeds_refuses_an_image_dataset():
    config = ring8_config.get_config()
    config.data.name = "mnist"
    config.model = model_config("dcgan")
    with pytest.raises(ValueError):
        toy_seeds.train_seeds(config, [0])
