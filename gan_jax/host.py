"""Process settings the entry points apply first: host memory and TensorFlow's log lines.

XLA:CPU runs each call of a compiled program in a fresh temporary buffer (125 MiB for the
DCGAN 28x28 step at batch 64). glibc serves a request that large with ``mmap`` and gives it
back with ``munmap``, so every step pays a page fault per 4 KiB page, about 32,000 faults and
0.12 s of kernel time per step on a 2-core machine. :func:`retain_freed_memory` switches glibc
to one heap that keeps what is freed; the next step reuses the pages without a fault. What
the program computes is unchanged; the process keeps its peak memory instead of returning it.

The setting has to come before JAX starts its CPU backend (the backend's worker threads pick
their heap when they first allocate), so the entry points call it first: ``gan-jax``, the
sweep runner, the paper reproductions and the benchmarks. Set ``GAN_JAX_RETAIN_FREED_MEMORY=0``
to leave glibc's defaults.

TensorFlow only feeds data (TFDS, tf.data) and is imported on first use; :func:`quiet_tensorflow`
keeps its start-up log lines out of a command's output. ``gan-jax`` calls it first thing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.abc
import logging
import os
import re
import sys
import tempfile

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Makes glibc keep freed memory for reuse; True where it took effect (Linux, glibc).

    Sets one malloc arena for all threads, no ``mmap`` for large requests, and no trimming of
    the heap. Later calls return the first call's answer.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux") or os.environ.get(
            "GAN_JAX_RETAIN_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in (
        (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1)))
    return _applied


# An absl log line (C++ or Python): severity, MMDD, time, thread id, file:line, message.
_LOG_LINE = re.compile(rb"([IWEF])\d{4} [\d:.]+ +\d+ [^\s\]]+:\d+\] [^\n]*(?:\n|$)")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
_LOGGING_NOT_INITIALIZED = (b"WARNING: All log messages before absl::InitializeLog() is called "
                            b"are written to STDERR\n")
_TFDS_SOURCE = f"{os.sep}tensorflow_datasets{os.sep}"

_quieted = False


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's start-up log lines, and TFDS's warnings, out of a command's output.

    TensorFlow's C++ log lines obey ``TF_CPP_MIN_LOG_LEVEL``, set here to 2 (errors only)
    unless the environment sets it. One line escapes any level, 3 included: "oneDNN custom
    operations are on ...", logged at INFO by a static initialiser while
    ``libtensorflow_framework.so.2`` loads, and again by the profiler plugin, which carries its
    own copy of that code; both load during ``import tensorflow``. Each comes after absl's
    notice that logging is not initialised. Setting ``TF_ENABLE_ONEDNN_OPTS=0``
    would silence the line by turning oneDNN off, which changes TensorFlow's kernels and float
    results; the input pipeline's numbers should not depend on whether a command hides a log
    line, so instead ``import tensorflow`` runs with file descriptor 2 sent to a temporary
    file. Afterwards everything written there in the meantime goes to stderr, except absl's
    notice and the log lines below the level. Output of other threads during the import comes
    out late, not lost. With ``TF_CPP_MIN_LOG_LEVEL=0`` the import is left alone.

    TFDS logs warnings through absl's Python logger that are its own business (writing a
    dataset folder that has no ``dataset_info.json`` yet is the normal case the first time a
    dataset is prepared); records from TFDS below ERROR are dropped.

    The import filter needs the call to come before TensorFlow is imported; calls after the
    first do nothing.
    """
    global _quieted
    if _quieted:
        return
    _quieted = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        min_level = int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        min_level = 0
    if min_level > 0 and "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _QuietImportFinder(min(min_level, 3)))
    from absl import logging as absl_logging

    absl_logging.get_absl_logger().addFilter(_drop_tfds_below_error)


def _drop_tfds_below_error(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR or _TFDS_SOURCE not in record.pathname


def without_log_lines(output: bytes, min_level: int) -> bytes:
    """``output`` less absl's C++ log lines of severity below ``min_level`` (0 INFO, 1 WARNING,
    2 ERROR) and absl's notice that logging is not initialised; the rest byte for byte."""
    output = output.replace(_LOGGING_NOT_INITIALIZED, b"")
    return _LOG_LINE.sub(
        lambda m: b"" if _SEVERITY[m.group(1)] < min_level else m.group(0), output)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` through the other finders and has :class:`_QuietLoader` run it."""

    def __init__(self, min_level: int):
        self._min_level = min_level

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _QuietLoader(spec.loader, self._min_level)
            return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    """Runs the module of the wrapped loader with stderr filtered by :func:`without_log_lines`."""

    def __init__(self, loader, min_level: int):
        self._loader = loader
        self._min_level = min_level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        # The module keeps the real loader: nothing after the import sees this wrapper.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _call_with_filtered_stderr(lambda: self._loader.exec_module(module), self._min_level)


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # None, closed or replaced
        pass


def _call_with_filtered_stderr(function, min_level: int):
    try:
        capture = tempfile.TemporaryFile()
    except OSError:
        return function()
    with capture:
        _flush_stderr()
        try:
            saved = os.dup(2)
        except OSError:  # no file descriptor 2: nothing to filter
            return function()
        os.dup2(capture.fileno(), 2)
        try:
            return function()
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            rest = memoryview(without_log_lines(capture.read(), min_level))
            try:
                while rest:
                    rest = rest[os.write(2, rest):]
            except OSError:  # stderr closed meanwhile: the output had nowhere to go anyway
                pass
