"""The README's table of paper reproductions, generated from their committed records.

    python -m experiments.paper.table            # rewrite the block in README.md
    python -m experiments.paper.table --check    # exit 1 if README.md differs from it

Reads ``experiments/paper/results/<name>.json`` (written by
``python -m experiments.paper.<name>``, see ``common.py``) for every reproduction of
:data:`ORDER` and writes one row each (reproduction, command, run time, the paper's
value, ours) between the markers :data:`START` and :data:`END` of README.md. A
reproduction without a record is listed as "not run yet". The table is never typed
by hand: ``tests/test_paper_table.py`` fails when README.md and the records disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from experiments.paper.common import RESULTS_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
START = "<!-- paper-table:start -->"
END = "<!-- paper-table:end -->"

# Every reproduction, in the table's order, with the title shown before it has a record.
ORDER: list[tuple[str, str]] = [
    ("goodfellow_fig1", "Goodfellow et al. 2014, Fig. 1 and Theorem 1"),
    ("divergence_picture", "The lecture's divergence picture: max_D V against JSD"),
    ("fgan_gaussian", "Nowozin et al. 2016 (f-GAN), one Gaussian fitted to a mixture"),
    ("wgan_lines", "Arjovsky et al. 2017 (WGAN), Example 1: parallel lines"),
    ("dirac_gan", "Mescheder et al. 2018, the Dirac-GAN"),
    ("mode_collapse", "Mode collapse on ring-8 and grid-25 (VEEGAN/PacGAN protocol)"),
    ("mode_collapse_long", "Mode collapse on grid-25, 10,000 G steps"),
    ("lucic_losses", "Lucic et al. 2018, loss ablation on MNIST (CPU scale)"),
]
NOT_RUN = "not run yet"


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


def row(name: str, title: str, record: dict[str, Any] | None) -> list[str]:
    """The cells of one reproduction: title, command, run time, paper, ours."""
    command = f"`python -m experiments.paper.{name}`"
    if record is None:
        return [_cell(title), command, NOT_RUN, NOT_RUN, NOT_RUN]
    runtime = format_runtime(float(record["runtime_s"]))
    if record.get("quick"):
        runtime += " (quick version)"
    return [_cell(record["title"]), command, runtime, _cell(record["paper"]),
            _cell(record["ours"])]


def render(results_dir: str = RESULTS_DIR) -> str:
    """The Markdown table of every reproduction of :data:`ORDER`."""
    lines = ["| reproduction | command | run time | paper | ours |",
             "| --- | --- | --- | --- | --- |"]
    for name, title in ORDER:
        lines.append("| " + " | ".join(row(name, title, load_record(results_dir, name)))
                     + " |")
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
                        help="change nothing; exit 1 if README.md differs from the records")
    parser.add_argument("--results", default=RESULTS_DIR, help="directory of the records")
    parser.add_argument("--readme", default=README, help="the README to rewrite")
    args = parser.parse_args(argv)
    try:
        with open(args.readme) as f:
            text = f.read()
        new = replace_block(text, render(args.results))
    except (OSError, TableError) as e:
        print(f"experiments.paper.table: error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{args.readme}: the reproductions table differs from the records in "
                  f"{args.results}; run python -m experiments.paper.table", file=sys.stderr)
            return 1
        return 0
    if new != text:
        with open(args.readme, "w") as f:
            f.write(new)
        print(f"rewrote the reproductions table in {args.readme}")
    else:
        print(f"{args.readme}: the reproductions table is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
