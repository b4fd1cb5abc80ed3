"""Reproduction 7, Lucic et al. 2018's loss ablation: rank statistics and the quick run.

The quick run trains two losses for a few DCGAN steps on mnist5k and scores them by
FD-LeNet on 256 samples: it checks the plumbing (sweep, checkpoints, scoring, record),
not the paper's numbers, which need the full run.
"""

import glob
import json
import math
import os
import shutil

import numpy as np
import pytest
import scipy.stats

from experiments.paper import common, lucic_losses

PAPER = {name: fid for name, _, fid in lucic_losses.LOSSES}


def test_ranks_average_ties():
    np.testing.assert_array_equal(lucic_losses.ranks([3.0, 1.0, 2.0, 2.0, 7.0]),
                                  [4.0, 1.0, 2.5, 2.5, 5.0])


@pytest.mark.parametrize("ours", [
    [9.8, 6.8, 7.8, 6.7, 20.3, 7.6],          # the paper's own values: rho = 1
    [1.0, 5.0, 3.0, 6.0, 0.5, 4.0],           # the paper's order reversed: rho = -1
    [4.1, 2.2, 2.2, 9.0, 3.3, 5.5],           # a tie
])
def test_spearman_matches_scipy(ours):
    paper = [PAPER[name] for name, _, _ in lucic_losses.LOSSES]
    expected = scipy.stats.spearmanr(ours, paper).statistic
    assert lucic_losses.spearman(ours, paper) == pytest.approx(expected, abs=1e-12)


def test_spearman_of_fixed_rankings():
    paper = [PAPER[name] for name, _, _ in lucic_losses.LOSSES]
    assert lucic_losses.spearman(paper, paper) == pytest.approx(1.0)
    assert lucic_losses.spearman([-v for v in paper], paper) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="equal length"):
        lucic_losses.spearman([1.0, 2.0], [1.0, 2.0, 3.0])


def test_paper_values_and_variants():
    assert PAPER == {"MM": 9.8, "NS": 6.8, "LSGAN": 7.8, "WGAN": 6.7, "WGAN-GP": 20.3,
                     "DRAGAN": 7.6}
    definition = lucic_losses.sweep_definition(lucic_losses.FULL, "/data")
    variants = dict(definition["variants"])
    assert variants["LSGAN"]["loss"] == "lsgan_011"
    assert variants["WGAN"] == {"loss": "wasserstein", "clip_weights": 0.01, "n_disc": 5}
    assert variants["DRAGAN"]["penalty"] == "dragan"
    assert definition["overrides"]["data.data_dir"] == "/data"
    assert definition["overrides"]["eval_every"] == 0
    assert len(definition["seeds"]) >= 3
    config = lucic_losses.run_config({**definition["overrides"], **variants["WGAN-GP"]})
    assert (config.model.name, config.batch_size, config.penalty) == ("dcgan", 64, "gp")


@pytest.mark.parametrize("wall, expected", [(5.0, 30.0), (45.0, 45.0)])
def test_a_runs_time_is_the_larger_of_its_wall_and_logged_training_time(tmp_path, wall,
                                                                        expected):
    # logged: 100 steps at 10/s, 100 at 5/s, then an evaluation row without a rate
    rows = [{"step": 100, "steps_per_sec": 10.0}, {"step": 200, "steps_per_sec": 5.0},
            {"step": 200, "fd_lenet": 1.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "result.json").write_text(json.dumps({"run_seconds": wall}))
    assert lucic_losses._run_seconds({"workdir": str(tmp_path)}) == expected


def test_quick_run_writes_a_record_and_reuses_its_runs(tmp_path):
    # mnist5k and its LeNet live in the default TFDS dir, shared with the other tests
    # (both are made on first use).
    data_dir = None
    workdir, out = str(tmp_path / "runs"), str(tmp_path / "out")

    def run(out_dir, quick, **kw):
        return lucic_losses.run(out_dir, quick, data_dir=data_dir, workdir=workdir, **kw)

    record = common.execute(run, "lucic_losses", out, quick=True)
    assert os.path.exists(os.path.join(out, "lucic_losses.png"))
    with open(os.path.join(out, "lucic_losses.json")) as f:
        assert json.load(f)["numbers"] == record["numbers"]
    numbers = record["numbers"]
    table = numbers["per_loss"]
    assert list(table) == ["NS", "LSGAN"]
    for name in table:
        assert all(math.isfinite(v) and v > 0 for v in table[name]["fd_final"])
        steps = numbers["per_seed"][name][0]["steps"]
        assert steps == [0, lucic_losses.QUICK["num_steps"]]
    ours = [table[n]["fd_final_mean"] for n in table]
    assert numbers["spearman_final"] == pytest.approx(
        scipy.stats.spearmanr(ours, [PAPER[n] for n in table]).statistic)
    assert numbers["runs_finished"] == numbers["runs_planned"] == 2
    assert record["checks"]["every finished run ends with a finite FD-LeNet"]
    # The run time covers the runs' training, even when they trained in earlier calls.
    assert record["runtime_s"] >= sum(sum(v) for v in numbers["run_seconds"].values())

    # A rerun trains nothing and reads the cached scores back.
    again = run(out, True, finished_only=True)
    assert again["numbers"]["per_seed"] == numbers["per_seed"]

    # A run stopped by a signal and resumed also keeps the checkpoint of the step it
    # stopped at; only the scheduled checkpoints are scored.
    (ckpts,) = glob.glob(os.path.join(workdir, "**", "NS", "seed_0", "checkpoints"),
                         recursive=True)
    final = str(lucic_losses.QUICK["num_steps"])
    shutil.copytree(os.path.join(ckpts, final), os.path.join(ckpts, "3"))
    again = run(out, True, finished_only=True)
    assert again["numbers"]["per_seed"] == numbers["per_seed"]


def test_inception_fid_of_the_best_seeds_is_added_and_resumed(tmp_path):
    from test_inception import random_params

    from gan_jax.eval import inception

    data_dir = None
    workdir, out = str(tmp_path / "runs"), str(tmp_path / "out")
    record = common.execute(lambda o, quick: lucic_losses.run(o, quick, data_dir=data_dir,
                                                               workdir=workdir),
                            "lucic_losses", out, quick=True)
    # Random weights of the real architecture stand in for the converted ones.
    params = {k: v for k, v in random_params(logits=False).items()}
    net_dir = tmp_path / "inception"
    sha = inception.params_sha256(params)
    inception.save(params, {"id": f"inception-{sha[:8]}", "has_logits": False,
                            "params_sha256": sha}, net_dir)
    added = lucic_losses.add_inception(record, True, data_dir, workdir,
                                       log=lambda *_: None, inception_dir=net_dir)
    table = added["numbers"]["inception"]["per_loss"]
    best = lucic_losses.best_seeds(record["numbers"]["per_loss"], [0])
    assert set(table) == {"NS", "LSGAN"} and best == {"NS": 0, "LSGAN": 0}
    assert all(math.isfinite(t["fid"]) and t["fid"] > 0 for t in table.values())
    assert "Inception FID of the best seed, 32 vs 32 train" in added["ours"]
    assert added["numbers"]["inception"]["reference_key"].endswith("/tf_bilinear/n32")
    # The scored runs are the recorded ones here: their final FD-LeNet is the record's.
    for t in table.values():
        assert t["fd_lenet_final"] == t["fd_lenet_final_in_record"]
    saved = glob.glob(os.path.join(workdir, "**", lucic_losses.INCEPTION_FILE), recursive=True)
    assert len(saved) == 2
    written = {path: os.stat(path).st_mtime_ns for path in saved}
    # A rerun reads the saved features back instead of computing them.
    again = lucic_losses.add_inception(record, True, data_dir, workdir, log=lambda *_: None,
                                       inception_dir=net_dir)
    for name, t in again["numbers"]["inception"]["per_loss"].items():
        assert t["fid"] == table[name]["fid"]
    assert {path: os.stat(path).st_mtime_ns for path in saved} == written
