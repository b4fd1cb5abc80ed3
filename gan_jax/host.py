"""Host-memory setting for CPU training processes.

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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

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
