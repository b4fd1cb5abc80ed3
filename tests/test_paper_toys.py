"""The quick versions of the toy paper reproductions: each writes its PNG and JSON and meets
its key number within the tolerance its module states (experiments/paper/)."""

import math
import os

import numpy as np

from experiments.paper import (
    common,
    divergence_picture,
    fgan_gaussian,
    goodfellow_fig1,
    toys,
    wgan_lines,
)


def _run(module, tmp_path):
    record = common.execute(module.run, module.NAME, str(tmp_path), quick=True)
    assert os.path.getsize(tmp_path / f"{module.NAME}.png") > 10_000
    assert (tmp_path / f"{module.NAME}.json").exists()
    assert record["quick"] and record["paper"] and record["ours"]
    return record


def test_jsd_quadrature_closed_forms():
    def p(x):
        return toys.normal_pdf(x, 0.0, 1.0)

    assert toys.jsd(p, p, -12.0, 12.0) == 0.0
    # Disjoint supports (uniform densities on [0, 1] and [2, 3]): JSD = log 2.
    def u1(x):
        return ((x >= 0) & (x <= 1)).astype(float)

    def u2(x):
        return ((x >= 2) & (x <= 3)).astype(float)

    assert abs(toys.jsd(u1, u2, -1.0, 4.0) - math.log(2.0)) < 1e-6


def test_goodfellow_theorem1(tmp_path):
    record = _run(goodfellow_fig1, tmp_path)
    thm = record["numbers"]["theorem1"]
    tol = goodfellow_fig1.TOLERANCE[True]["theorem1_abs_gap"]
    # V at any D is at most max_D V = -log 4 + 2 JSD; the trained D comes within tol of it.
    assert thm["value_theory"] - tol <= thm["value_trained_d"] <= thm["value_theory"] + 1e-6
    assert all(record["checks"].values()), record["checks"]


def test_divergence_picture(tmp_path):
    record = _run(divergence_picture, tmp_path)
    n = record["numbers"]
    assert np.all(np.diff(n["jsd"]) > 0) and np.all(np.diff(n["value_trained_d"]) > 0)
    assert np.max(np.abs(n["gap"])) <= divergence_picture.TOLERANCE[True]
    assert all(record["checks"].values()), record["checks"]


def test_fgan_kl_fit_is_moment_matching(tmp_path):
    record = _run(fgan_gaussian, tmp_path)
    mix, kl = record["numbers"]["mixture"], record["numbers"]["fits"]["kl"]
    assert abs(kl["mu_direct"] - mix["mean"]) <= 1e-4
    assert abs(kl["sigma_direct"] - mix["std"]) <= 1e-4
    assert all(record["checks"].values()), record["checks"]


def test_wgan_lines(tmp_path):
    record = _run(wgan_lines, tmp_path)
    n, tol = record["numbers"], wgan_lines.TOLERANCE[True]
    theta = np.array(n["theta"])
    assert np.max(np.abs(np.array(n["w_estimate"]) - np.abs(theta))) <= tol["w_abs"]
    away = np.abs(theta) >= wgan_lines.JS_FLAT_FROM
    assert np.max(np.abs(np.array(n["js_estimate"])[away] - math.log(2.0))) <= tol["js_abs"]
    assert all(record["checks"].values()), record["checks"]
