"""Shared plumbing of the paper reproductions in ``experiments/paper/``.

Each reproduction is one module ``experiments/paper/<name>.py`` that defines

    run(out_dir: str, quick: bool = False) -> dict

and ends with ``if __name__ == "__main__": common.main(run, __doc__)``. It is run
from the repository root as

    python -m experiments.paper.<name> [--out DIR] [--quick]

``run`` does the work, draws ``<out_dir>/<name>.png`` and returns a record (a
JSON-serialisable dict) that :func:`main` completes and writes to
``<out_dir>/<name>.json``. ``quick=True`` is the shortened version the tests run:
the same code on smaller settings, still checking the key number.

The record's fields (``write_record`` adds ``name``, ``command``, ``quick`` and
``runtime_s``):

- ``title``: the paper and its figure or table, e.g. "Goodfellow et al. 2014, Fig. 1".
- ``paper``: what the paper reports, in a few words (a value or a qualitative claim).
- ``ours``: what this run measured, in a few words, for the README table.
- ``numbers``: every measured value (floats, lists, nested dicts).
- ``checks``: ``{claim: bool}``, each a statement of the paper that the run tests
  with a stated tolerance; ``tolerances`` holds those tolerances.

The README's table of reproductions is generated from the records of the
full-size runs, committed under ``experiments/paper/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from gan_jax import host

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _plain(value: Any) -> Any:
    """NumPy/JAX scalars and arrays -> Python numbers and lists, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def write_record(record: dict[str, Any], out_dir: str, name: str, quick: bool,
                 runtime_s: float) -> str:
    """Writes ``<out_dir>/<name>.json`` and returns its path."""
    for field in ("title", "paper", "ours", "numbers", "checks"):
        if field not in record:
            raise ValueError(f"the record of {name} has no field {field!r}")
    full = {"name": name, "command": f"python -m experiments.paper.{name}",
            "quick": quick, "runtime_s": round(runtime_s, 1), **_plain(record)}
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(full, f, indent=2, sort_keys=False)
        f.write("\n")
    return path


def execute(run: Callable[..., dict[str, Any]], name: str, out_dir: str,
            quick: bool = False) -> dict[str, Any]:
    """Runs one reproduction, times it and writes its JSON; returns the written record."""
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    record = run(out_dir, quick=quick)
    path = write_record(record, out_dir, name, quick, time.perf_counter() - start)
    with open(path) as f:
        return json.load(f)


def main(run: Callable[..., dict[str, Any]], doc: str | None,
         argv: list[str] | None = None) -> None:
    """Command line of a reproduction: ``--out DIR`` (default experiments/paper/results)."""
    host.quiet_tensorflow()
    host.retain_freed_memory()
    module = sys.modules[run.__module__]
    name = os.path.splitext(os.path.basename(module.__file__))[0]
    parser = argparse.ArgumentParser(prog=f"python -m experiments.paper.{name}",
                                     description=(doc or "").split("\n\n")[0])
    parser.add_argument("--out", default=RESULTS_DIR,
                        help="output directory for the PNG and JSON (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="the shortened version the tests run")
    args = parser.parse_args(argv)
    record = execute(run, name, args.out, quick=args.quick)
    failed = [claim for claim, ok in record["checks"].items() if not ok]
    print(f"{record['title']}: {record['ours']}  ({record['runtime_s']} s)")
    print(f"wrote {os.path.join(args.out, name + '.png')} and {name}.json")
    for claim in failed:
        print(f"check failed: {claim}", file=sys.stderr)
    sys.exit(1 if failed else 0)
