"""The README's table of paper reproductions is generated from the records, never typed,
and its thumbnails are made from the committed figures, never by hand."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from experiments.paper import table


def _write(directory, name, **fields):
    record = {"name": name, "command": f"python -m experiments.paper.{name}", "quick": False,
              "runtime_s": 12.0, "title": f"title of {name}", "paper": "p", "ours": "o",
              "numbers": {}, "checks": {}, **fields}
    (directory / f"{name}.json").write_text(json.dumps(record))


def _figure(path, size=(1000, 500), shade=0):
    """A figure like matplotlib's: RGBA, a white page with coloured shapes on it."""
    pixels = np.full((size[1], size[0], 4), 255, np.uint8)
    pixels[50:200, 100:400, :3] = (31, 119, 180)
    pixels[300:450, 500 + shade:900, :3] = (214, 39, 40)
    pixels[::40, :, :3] = 0
    Image.fromarray(pixels, "RGBA").save(path)


def test_rows_from_records_and_missing_ones(tmp_path):
    _write(tmp_path, "dirac_gan", title="Mescheder et al. 2018", runtime_s=41.6,
           paper="R1 converges", ours="R1 converges | unregularised cycles")
    _figure(tmp_path / "dirac_gan.png")
    _write(tmp_path, "lucic_losses", runtime_s=5400.0, quick=True, ours="NS 3.1\nMM 4.2")
    thumbs = tmp_path / "docs" / "images" / "paper"
    lines = table.render(str(tmp_path), str(thumbs), str(tmp_path)).splitlines()
    assert lines[0] == ("| reproduction | figure (click for full size) | command | run time "
                        "| paper | ours |")
    assert len(lines) == 2 + len(table.ORDER)
    rows = dict(zip([name for name, _ in table.ORDER], lines[2:], strict=True))
    assert rows["dirac_gan"] == ("| Mescheder et al. 2018 | [![figure of dirac_gan]"
                                 "(docs/images/paper/dirac_gan.png)](dirac_gan.png) | "
                                 "`python -m experiments.paper.dirac_gan` | 42 s | "
                                 "R1 converges | R1 converges \\| unregularised cycles |")
    assert rows["lucic_losses"] == ("| title of lucic_losses | no figure | `python -m "
                                    "experiments.paper.lucic_losses` | 1.5 h (quick version) "
                                    "| p | NS 3.1 MM 4.2 |")
    assert rows["goodfellow_fig1"] == ("| Goodfellow et al. 2014, Fig. 1 and Theorem 1 | "
                                       "not run yet | `python -m experiments.paper."
                                       "goodfellow_fig1` | not run yet | not run yet | "
                                       "not run yet |")


def test_runtime_format():
    assert [table.format_runtime(s) for s in (0.4, 89, 95, 5399, 5400)] == [
        "0 s", "89 s", "1.6 min", "90.0 min", "1.5 h"]


def test_readme_block_rewritten_and_checked(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _write(results, "wgan_lines")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{table.START}\nold\n{table.END}\n\n## next\n")
    thumbs = tmp_path / "thumbs"
    args = ["--results", str(results), "--readme", str(readme), "--thumbs", str(thumbs)]
    assert table.main([*args, "--check"]) == 1
    assert table.main(args) == 0
    assert readme.read_text() == (
        f"# x\n\n{table.START}\n{table.render(str(results), str(thumbs), str(tmp_path))}"
        f"{table.END}\n\n## next\n")
    assert table.main([*args, "--check"]) == 0


def test_thumbnails_made_checked_and_kept_current(tmp_path, capsys):
    results, thumbs = tmp_path / "results", tmp_path / "thumbs"
    results.mkdir()
    for name in ("wgan_lines", "dirac_gan"):
        _write(results, name)
        _figure(results / f"{name}.png")
    _write(results, "mode_collapse")  # a record without a figure has no thumbnail
    readme = tmp_path / "README.md"
    readme.write_text(f"{table.START}\n{table.END}\n")
    args = ["--results", str(results), "--readme", str(readme), "--thumbs", str(thumbs)]
    assert table.main(args) == 0
    assert sorted(os.listdir(thumbs)) == ["dirac_gan.png", "wgan_lines.png"]
    thumb = thumbs / "wgan_lines.png"
    with Image.open(thumb) as image:
        assert image.size == (table.THUMB_WIDTH, table.THUMB_WIDTH // 2)
        assert image.mode == "P"
        assert image.info[table.SOURCE_KEY] == table.file_sha256(results / "wgan_lines.png")
        small = np.asarray(image.convert("RGB"), np.float64)
    with Image.open(results / "wgan_lines.png") as image:
        big = image.convert("RGB").resize(
            (table.THUMB_WIDTH, table.THUMB_WIDTH // 2), Image.Resampling.LANCZOS)
    assert np.abs(small - np.asarray(big, np.float64)).mean() < 3
    assert thumb.stat().st_size < 20_000
    assert table.main([*args, "--check"]) == 0
    made = thumb.read_bytes()
    table.make_thumbnail(str(results / "wgan_lines.png"), str(thumb))
    assert thumb.read_bytes() == made

    _figure(results / "wgan_lines.png", shade=100)  # the figure is redrawn: stale thumbnail
    (thumbs / "dirac_gan.png").unlink()
    (thumbs / "fgan_gaussian.png").write_bytes(made)  # a thumbnail of no figure
    capsys.readouterr()
    assert table.main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "wgan_lines.png was not made from the current" in err
    assert "dirac_gan.png is missing" in err
    assert "fgan_gaussian.png belongs to no figure of the table" in err
    assert table.main(args) == 0
    assert sorted(os.listdir(thumbs)) == ["dirac_gan.png", "wgan_lines.png"]
    assert thumb.read_bytes() != made
    assert table.main([*args, "--check"]) == 0


def test_thumbnail_command_keeps_small_images(tmp_path):
    src, dest = tmp_path / "grid.png", tmp_path / "out" / "grid.png"
    Image.fromarray(np.arange(242 * 242, dtype=np.uint8).reshape(242, 242), "L").save(src)
    assert table.main(["--thumbnail", str(src), str(dest)]) == 0
    with Image.open(dest) as image:
        assert image.size == (242, 242)
    assert table.thumbnail_problem(str(src), str(dest)) is None
    assert table.main(["--thumbnail", str(src), str(dest), "--width", "121"]) == 0
    with Image.open(dest) as image:
        assert image.size == (121, 121)
    assert table.main(["--thumbnail", str(tmp_path / "none.png"), str(dest)]) == 2


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
    assert table.thumbnail_problems() == [], (
        "the figures' thumbnails are stale: run python -m experiments.paper.table")
    sizes = [os.path.getsize(os.path.join(table.THUMB_DIR, f))
             for f in os.listdir(table.THUMB_DIR)]
    assert sum(sizes) < 300_000, "the thumbnails should stay a few hundred KB in all"


def test_readme_pictures_exist_and_stay_small():
    with open(table.README) as f:
        links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", f.read())
    assert "docs/images/default_mnist5k_step1500.png" in links
    for link in links:
        path = os.path.join(table.ROOT, link)
        assert os.path.exists(path), f"README.md shows {link}, which does not exist"
        with Image.open(path) as image:
            assert image.width <= 600, f"{link} is {image.width} pixels wide"
