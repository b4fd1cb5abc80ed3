"""The README's table of paper reproductions, generated from their committed records.

    python -m experiments.paper.table            # rewrite the block and the thumbnails
    python -m experiments.paper.table --check    # exit 1 if either differs from the records

Reads ``experiments/paper/results/<name>.json`` (written by
``python -m experiments.paper.<name>``, see ``common.py``) for every reproduction of
:data:`ORDER` and writes one row each (reproduction, figure, command, run time, the
paper's value, ours) between the markers :data:`START` and :data:`END` of README.md.
A reproduction without a record is listed as "not run yet". The figure cell shows a
thumbnail of the record's full-size ``<name>.png``, linked to it: a copy
:data:`THUMB_WIDTH` pixels wide, quantised to :data:`THUMB_COLORS` colours, written to
``docs/images/paper/<name>.png`` with the SHA-256 of its source in the PNG text field
:data:`SOURCE_KEY`. The table is never typed by hand and the thumbnails are never made
by hand: ``tests/test_paper_table.py`` fails when README.md and the records disagree,
when a thumbnail is missing, or when its source figure has changed since it was made.

    python -m experiments.paper.table --thumbnail SRC DEST [--width PIXELS]

makes one thumbnail of any PNG the same way (README.md's sample grid at the top).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from experiments.paper.common import RESULTS_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
THUMB_DIR = os.path.join(ROOT, "docs", "images", "paper")
START = "<!-- paper-table:start -->"
END = "<!-- paper-table:end -->"
THUMB_WIDTH = 320
THUMB_COLORS = 64
SOURCE_KEY = "source-sha256"

# Every reproduction, in the table's order, with the title shown before it has a record.
ORDER: list[tuple[str, str]] = [
    ("goodfellow_fig1", "Goodfellow et al. 2014, Fig. 1 and Theorem 1"),
    ("divergence_picture", "The lecture's divergence picture: max_D V against JSD"),
    ("fgan_gaussian", "Nowozin et al. 2016 (f-GAN), one Gaussian fitted to a mixture"),
    ("wgan_lines", "Arjovsky et al. 2017 (WGAN), Example 1: parallel lines"),
    ("dirac_gan", "Mescheder et al. 2018, the Dirac-GAN"),
    ("mode_collapse", "Mode collapse on ring-8 and grid-25 (VEEGAN/PacGAN protocol)"),
    ("mode_collapse_long", "Mode collapse on grid-25, 10,000 G steps"),
    ("pacgan", "Lin et al. 2018 (PacGAN), packing on ring-8, grid-25 and Stacked MNIST"),
    ("unrolled", "Metz et al. 2017, the unrolled GAN on its papers' protocols"),
    ("lucic_losses", "Lucic et al. 2018, loss ablation on MNIST (CPU scale)"),
]
# The protocol a row's numbers come from, where the record's title does not say it.
PROTOCOL_NOTES: dict[str, str] = {
    "mode_collapse": "unrolled GAN on the gan_jax protocol",
    "mode_collapse_long": "unrolled GAN on the gan_jax protocol",
}
NOT_RUN = "not run yet"
NO_FIGURE = "no figure"


class TableError(ValueError):
    """A record or README.md that the table cannot be made from; one line for the user."""


def _cell(text: Any) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def format_runtime(seconds: float) -> str:
    """``runtime_s`` for a reader: "42 s", "3.5 min", "1.2 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_thumbnail(src: str, dest: str, width: int = THUMB_WIDTH,
                   colors: int = THUMB_COLORS) -> None:
    """Writes ``dest``: ``src`` on white, at most ``width`` pixels wide (Lanczos), in a
    palette of ``colors`` colours, optimised, with ``src``'s SHA-256 under
    :data:`SOURCE_KEY`. The same source gives the same pixels on every run."""
    with Image.open(src) as image:
        rgba = image.convert("RGBA")
    page = Image.new("RGBA", rgba.size, "white")
    page.alpha_composite(rgba)
    rgb = page.convert("RGB")
    if rgb.width > width:
        rgb = rgb.resize((width, max(1, round(rgb.height * width / rgb.width))),
                         Image.Resampling.LANCZOS)
    small = rgb.quantize(colors=colors, method=Image.Quantize.MEDIANCUT,
                         dither=Image.Dither.NONE)
    info = PngInfo()
    info.add_text(SOURCE_KEY, file_sha256(src))
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    small.save(dest, optimize=True, pnginfo=info)


def thumbnail_problem(src: str, dest: str, width: int = THUMB_WIDTH) -> str | None:
    """Why ``dest`` is not the current thumbnail of ``src`` (None when it is)."""
    if not os.path.exists(dest):
        return f"{dest} is missing"
    try:
        with Image.open(dest) as image:
            recorded = image.info.get(SOURCE_KEY)
            size = image.size
    except OSError as e:
        return f"{dest} cannot be read: {e}"
    if recorded != file_sha256(src):
        return f"{dest} was not made from the current {src}"
    with Image.open(src) as image:
        want = min(width, image.width)
    if size[0] != want:
        return f"{dest} is {size[0]} pixels wide, not {want}"
    return None


def figures(results_dir: str = RESULTS_DIR) -> list[str]:
    """The reproductions of :data:`ORDER` whose record and ``<name>.png`` both exist."""
    return [name for name, _ in ORDER
            if os.path.exists(os.path.join(results_dir, f"{name}.json"))
            and os.path.exists(os.path.join(results_dir, f"{name}.png"))]


def thumbnail_problems(results_dir: str = RESULTS_DIR,
                       thumb_dir: str = THUMB_DIR) -> list[str]:
    """Every thumbnail that is missing, stale, or of no figure of the table."""
    names = figures(results_dir)
    problems = [thumbnail_problem(os.path.join(results_dir, f"{name}.png"),
                                  os.path.join(thumb_dir, f"{name}.png"))
                for name in names]
    if os.path.isdir(thumb_dir):
        problems += [f"{os.path.join(thumb_dir, f)} belongs to no figure of the table"
                     for f in sorted(os.listdir(thumb_dir))
                     if f.endswith(".png") and f[:-4] not in names]
    return [p for p in problems if p]


def write_thumbnails(results_dir: str = RESULTS_DIR, thumb_dir: str = THUMB_DIR) -> list[str]:
    """Makes every missing or stale thumbnail and removes those of no figure; returns
    the paths written or removed."""
    names = figures(results_dir)
    changed = []
    for name in names:
        src = os.path.join(results_dir, f"{name}.png")
        dest = os.path.join(thumb_dir, f"{name}.png")
        if thumbnail_problem(src, dest):
            make_thumbnail(src, dest)
            changed.append(dest)
    if os.path.isdir(thumb_dir):
        for f in sorted(os.listdir(thumb_dir)):
            if f.endswith(".png") and f[:-4] not in names:
                os.remove(os.path.join(thumb_dir, f))
                changed.append(os.path.join(thumb_dir, f))
    return changed


def load_record(results_dir: str, name: str) -> dict[str, Any] | None:
    """The record ``<results_dir>/<name>.json``, or None when there is none."""
    path = os.path.join(results_dir, f"{name}.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise TableError(f"cannot read {path}: {e}; rerun python -m experiments.paper.{name} "
                         "to rewrite it") from None
    missing = [k for k in ("title", "paper", "ours", "runtime_s") if k not in record]
    if missing:
        raise TableError(f"{path} has no field {', '.join(missing)}; rerun "
                         f"python -m experiments.paper.{name} to rewrite it")
    return record


def _link(path: str, base: str) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def figure_cell(name: str, results_dir: str = RESULTS_DIR, thumb_dir: str = THUMB_DIR,
                base: str = ROOT) -> str:
    """The thumbnail of ``<name>.png`` linked to the full-size figure, paths relative
    to ``base`` (README.md's folder); :data:`NO_FIGURE` when the record has none."""
    figure = os.path.join(results_dir, f"{name}.png")
    if not os.path.exists(figure):
        return NO_FIGURE
    thumb = os.path.join(thumb_dir, f"{name}.png")
    return f"[![figure of {name}]({_link(thumb, base)})]({_link(figure, base)})"


def row(name: str, title: str, record: dict[str, Any] | None, figure: str = NO_FIGURE
        ) -> list[str]:
    """The cells of one reproduction: title, figure, command, run time, paper, ours."""
    command = f"`python -m experiments.paper.{name}`"
    if record is None:
        return [_cell(title), NOT_RUN, command, NOT_RUN, NOT_RUN, NOT_RUN]
    runtime = format_runtime(float(record["runtime_s"]))
    if record.get("quick"):
        runtime += " (quick version)"
    title = record["title"] + (f" ({PROTOCOL_NOTES[name]})" if name in PROTOCOL_NOTES else "")
    return [_cell(title), figure, command, runtime, _cell(record["paper"]),
            _cell(record["ours"])]


def render(results_dir: str = RESULTS_DIR, thumb_dir: str = THUMB_DIR,
           base: str = ROOT) -> str:
    """The Markdown table of every reproduction of :data:`ORDER`."""
    lines = ["| reproduction | figure (click for full size) | command | run time | paper "
             "| ours |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, title in ORDER:
        record = load_record(results_dir, name)
        figure = figure_cell(name, results_dir, thumb_dir, base)
        lines.append("| " + " | ".join(row(name, title, record, figure)) + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, table: str) -> str:
    """``text`` with everything between the markers replaced by ``table``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise TableError(f"README.md must hold the line {START} once, followed by {END} "
                         "once; put them around the place of the table")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.paper.table",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if README.md or a thumbnail differs "
                             "from the records")
    parser.add_argument("--results", default=RESULTS_DIR, help="directory of the records")
    parser.add_argument("--readme", default=README, help="the README to rewrite")
    parser.add_argument("--thumbs", default=THUMB_DIR,
                        help="directory of the figures' thumbnails")
    parser.add_argument("--thumbnail", nargs=2, metavar=("SRC", "DEST"),
                        help="only write a thumbnail of the PNG SRC to DEST")
    parser.add_argument("--width", type=int, default=THUMB_WIDTH,
                        help="the most pixels a --thumbnail is wide (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.width < 1:
        parser.error(f"--width must be at least 1, not {args.width}")
    prog = "experiments.paper.table"
    if args.thumbnail:
        src, dest = args.thumbnail
        try:
            make_thumbnail(src, dest, width=args.width)
        except OSError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {dest} ({os.path.getsize(dest) / 1024:.0f} KiB)")
        return 0
    base = os.path.dirname(os.path.abspath(args.readme))
    try:
        with open(args.readme) as f:
            text = f.read()
        new = replace_block(text, render(args.results, args.thumbs, base))
    except (OSError, TableError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    if args.check:
        problems = thumbnail_problems(args.results, args.thumbs)
        if new != text:
            problems.insert(0, f"{args.readme}: the reproductions table differs from the "
                               f"records in {args.results}")
        for problem in problems:
            print(f"{problem}; run python -m experiments.paper.table", file=sys.stderr)
        return 1 if problems else 0
    for path in write_thumbnails(args.results, args.thumbs):
        print(f"{'wrote' if os.path.exists(path) else 'removed'} {path}")
    if new != text:
        with open(args.readme, "w") as f:
            f.write(new)
        print(f"rewrote the reproductions table in {args.readme}")
    else:
        print(f"{args.readme}: the reproductions table is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
