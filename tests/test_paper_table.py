"""The README's table of paper reproductions is generated from the records, never typed."""

import json

import pytest

from experiments.paper import table


def _write(directory, name, **fields):
    record = {"name": name, "command": f"python -m experiments.paper.{name}", "quick": False,
              "runtime_s": 12.0, "title": f"title of {name}", "paper": "p", "ours": "o",
              "numbers": {}, "checks": {}, **fields}
    (directory / f"{name}.json").write_text(json.dumps(record))


def test_rows_from_records_and_missing_ones(tmp_path):
    _write(tmp_path, "dirac_gan", title="Mescheder et al. 2018", runtime_s=41.6,
           paper="R1 converges", ours="R1 converges | unregularised cycles")
    _write(tmp_path, "lucic_losses", runtime_s=5400.0, quick=True, ours="NS 3.1\nMM 4.2")
    lines = table.render(str(tmp_path)).splitlines()
    assert lines[0] == "| reproduction | command | run time | paper | ours |"
    assert len(lines) == 2 + len(table.ORDER)
    rows = dict(zip([name for name, _ in table.ORDER], lines[2:], strict=True))
    assert rows["dirac_gan"] == ("| Mescheder et al. 2018 | `python -m experiments.paper."
                                 "dirac_gan` | 42 s | R1 converges | R1 converges \\| "
                                 "unregularised cycles |")
    assert rows["lucic_losses"] == ("| title of lucic_losses | `python -m experiments.paper."
                                    "lucic_losses` | 1.5 h (quick version) | p | NS 3.1 MM 4.2 |")
    assert rows["goodfellow_fig1"] == ("| Goodfellow et al. 2014, Fig. 1 and Theorem 1 | "
                                       "`python -m experiments.paper.goodfellow_fig1` | "
                                       "not run yet | not run yet | not run yet |")


def test_runtime_format():
    assert [table.format_runtime(s) for s in (0.4, 89, 95, 5399, 5400)] == [
        "0 s", "89 s", "1.6 min", "90.0 min", "1.5 h"]


def test_readme_block_rewritten_and_checked(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results, "wgan_lines")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{table.START}\nold\n{table.END}\n\n## next\n")
    args = ["--results", str(results), "--readme", str(readme)]
    assert table.main([*args, "--check"]) == 1
    assert table.main(args) == 0
    assert readme.read_text() == (f"# x\n\n{table.START}\n{table.render(str(results))}"
                                  f"{table.END}\n\n## next\n")
    assert table.main([*args, "--check"]) == 0


def test_bad_readme_and_bad_record(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert table.main(["--results", str(tmp_path), "--readme", str(readme)]) == 2
    assert "must hold the line" in capsys.readouterr().err
    (tmp_path / "mode_collapse.json").write_text("{truncated")
    with pytest.raises(table.TableError, match="mode_collapse"):
        table.render(str(tmp_path))


def test_readme_table_matches_committed_records():
    with open(table.README) as f:
        text = f.read()
    assert text == table.replace_block(text, table.render()), (
        "README.md's reproductions table is stale: run python -m experiments.paper.table")
