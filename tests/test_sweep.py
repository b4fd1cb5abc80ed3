"""The sweep launcher: variants x seeds into raw and aggregated tables, reruns skip."""

import csv
import os
import time

import pytest

from gan_jax import runs, sweep as sweep_lib, sweep_runs

HERE = os.path.dirname(__file__)
RING8 = os.path.join(HERE, "..", "experiments", "configs", "ring8.py")


def _tiny_sweep():
    return dict(
        config=RING8,
        overrides={"num_steps": 2, "batch_size": 16, "model.hidden": 8, "model.depth": 1,
                   "log_every": 2, "sample_every": 2, "checkpoint_every": 2,
                   "num_toy_samples": 64, "progress_bar": False},
        variants=[("nonsaturating", {"loss": "nonsaturating"}),
                  ("hinge+r1", {"loss": "hinge", "penalty": "r1"})],
        seeds=[0, 1],
        metrics=("modes_captured", "high_quality", "reverse_kl"),
    )


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_two_variants_two_seeds_give_4_raw_and_2_aggregated_rows_and_rerun_skips(
        tmp_path, monkeypatch):
    logs = []
    rows = sweep_lib.run_sweep(_tiny_sweep(), str(tmp_path), log=logs.append)
    assert len(rows) == 4
    raw = _read_csv(tmp_path / "results.csv")
    assert [(r["variant"], r["seed"]) for r in raw] == [
        ("nonsaturating", "0"), ("nonsaturating", "1"), ("hinge+r1", "0"), ("hinge+r1", "1")]
    assert all(float(r["modes_captured"]) >= 0 and r["step"] == "2" for r in raw)
    summary = _read_csv(tmp_path / "summary.csv")
    assert [r["variant"] for r in summary] == ["nonsaturating", "hinge+r1"]
    assert all(r["n"] == "2" for r in summary)
    table = (tmp_path / "summary.md").read_text().splitlines()
    assert len(table) == 4 and table[0].startswith("| variant | seeds | modes_captured")
    assert (tmp_path / "summary.png").stat().st_size > 1000

    def no_training(*args):
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr(sweep_runs, "run_one", no_training)
    logs.clear()
    again = sweep_lib.run_sweep(_tiny_sweep(), str(tmp_path), log=logs.append)
    assert "4 runs (4 finished before), 0 to run" in logs[0]
    assert again == rows


def test_grid_is_the_cartesian_product_with_readable_names():
    variants = sweep_lib.variants_of(
        {"grid": {"loss": ["hinge", "wasserstein"], "penalty": ["none", "gp"]}})
    assert [name for name, _ in variants] == [
        "loss=hinge,penalty=none", "loss=hinge,penalty=gp",
        "loss=wasserstein,penalty=none", "loss=wasserstein,penalty=gp"]
    assert variants[3][1] == {"loss": "wasserstein", "penalty": "gp"}
    with pytest.raises(ValueError, match="duplicate variant names: a"):
        sweep_lib.variants_of({"variants": [("a", {}), ("a", {"loss": "hinge"})]})


def test_aggregate_is_mean_and_sample_std_over_seeds():
    rows = [{"variant": "a", "seed": 0, "m": 1.0}, {"variant": "a", "seed": 1, "m": 3.0},
            {"variant": "b", "seed": 0, "m": 5.0}]
    summary = sweep_lib.aggregate(rows, ["m"])
    assert summary[0] == {"variant": "a", "n": 2, "m_mean": 2.0, "m_std": pytest.approx(2 ** 0.5)}
    assert summary[1] == {"variant": "b", "n": 1, "m_mean": 5.0, "m_std": 0.0}
    assert "| a | 2 | 2 ± 1.41 |" in sweep_lib.markdown_table(summary, ["m"])


def test_override_of_an_unknown_field_is_refused():
    from gan_jax.configs import base_config

    with pytest.raises(ValueError, match="unknown field config.model.width"):
        sweep_lib.apply_overrides(base_config(), {"model.width": 3})


def test_losses_ring8_sweep_covers_every_loss():
    from gan_jax import losses

    spec = runs.load_python_file(
        os.path.join(HERE, "..", "experiments", "sweeps", "losses_ring8.py"), "get_sweep")
    variants = dict(sweep_lib.variants_of(spec))
    assert {v["loss"] for v in variants.values()} == set(losses.LOSSES)
    assert len(spec["seeds"]) == 3 and os.path.exists(spec["config"])


def test_a_preempted_run_writes_no_result_and_the_rerun_finishes_it(tmp_path, monkeypatch):
    from gan_jax import preemption

    overrides = {**_tiny_sweep()["overrides"], "num_steps": 6, "seed": 0}
    run_workdir = str(tmp_path / "run")
    reached = preemption.PreemptionWatcher.reached

    def sigterm_at_step_3(self, step):
        if step == 3:
            self.signal_name = "SIGTERM"  # what the SIGTERM handler records
        return reached(self, step)

    monkeypatch.setattr(preemption.PreemptionWatcher, "reached", sigterm_at_step_3)
    with pytest.raises(RuntimeError, match="stopped at step 3 of 6"):
        sweep_lib.run_one(RING8, overrides, run_workdir)
    assert not os.path.exists(os.path.join(run_workdir, sweep_lib.RESULT_FILE))
    first_call = sweep_lib.earlier_seconds(run_workdir)
    assert first_call > 0
    monkeypatch.undo()
    started = time.perf_counter()
    record = sweep_lib.run_one(RING8, overrides, run_workdir)
    second_call = time.perf_counter() - started
    assert record["metrics"]["step"] == 6
    assert os.path.exists(os.path.join(run_workdir, sweep_lib.RESULT_FILE))
    # the run's time counts both calls, not only the one that finished it
    assert first_call + 0.5 * second_call < record["run_seconds"] <= first_call + second_call


def test_a_run_stopped_by_a_signal_stops_the_sweep(tmp_path, monkeypatch):
    started = []

    def first_run_gets_sigterm(config_path, overrides, run_workdir):
        started.append(run_workdir)
        if len(started) == 1:
            raise sweep_lib.RunStopped("stopped at step 1 of 2; rerunning the sweep resumes it")
        raise AssertionError("a run started after the sweep was told to stop")

    monkeypatch.setattr(sweep_runs, "run_one", first_run_gets_sigterm)
    logs = []
    with pytest.raises(sweep_lib.SweepStopped, match="nonsaturating seed 0 stopped at step 1"):
        sweep_lib.run_sweep(_tiny_sweep(), str(tmp_path), log=logs.append)
    assert len(started) == 1
    assert "sweep: ran 0 runs" in logs[-1]
    assert (tmp_path / "results.csv").exists()  # tables of the finished runs (none) written


def test_parallel_sweep_runs_in_worker_processes(tmp_path):
    sweep = {**_tiny_sweep(), "variants": [("nonsaturating", {"loss": "nonsaturating"})]}
    rows = sweep_lib.run_sweep(sweep, str(tmp_path), parallel=2, log=lambda _: None)
    assert sorted(r["seed"] for r in rows) == [0, 1]
    assert all(r["step"] == 2 for r in rows)
