"""The errors gan_jax reports to its users, each carrying one line of text.

A leaf module: it imports nothing of gan_jax, so any module can raise these without
an import cycle. Entry points print ``gan-jax: error: <message>`` and exit with status
2 for mistakes in what the user asked for (:class:`ConfigError`, :class:`DataError`,
:class:`RunError`) and 1 for failures during a run (:class:`CheckpointError`,
:class:`DivergenceError`).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config that cannot run: the line names the field, the value and what is allowed."""


class DataError(ValueError):
    """Data that cannot be read (missing, not prepared, not a split, no images)."""


class DataUnavailable(DataError):
    """No way to prepare a dataset worked; the message says which ways there are."""


class RunError(ValueError):
    """A workdir or checkpoint that cannot be used as asked (``gan-jax eval``/``sample``)."""


class CheckpointError(RuntimeError):
    """No checkpoint of a run can be written or read back."""


class DivergenceError(RuntimeError):
    """Training produced non-finite values."""


def one_line(error: BaseException, limit: int | None = None) -> str:
    """``Type: message`` of an exception on one line (whitespace squeezed), the message cut
    at ``limit`` characters when given."""
    text = " ".join(str(error).split())
    text = text if limit is None or len(text) <= limit else text[:limit] + " ..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
