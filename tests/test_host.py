"""host.retain_freed_memory: freed memory is reused without page faults."""

import subprocess
import sys

import pytest

_CHILD = """
import ctypes, resource, sys
from gan_jax import host
applied = host.retain_freed_memory() if sys.argv[1] == "retain" else False
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def touch_and_free(size=64 * 2**20):  # the size class of an XLA step's temporaries
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
touch_and_free()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    touch_and_free()
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def _faults_per_allocation(mode: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True,
                         check=True, env={"PATH": "", "GAN_JAX_RETAIN_FREED_MEMORY": "1"})
    applied, faults = out.stdout.split()
    return applied == "True", float(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_retained_memory_is_reused_without_page_faults():
    applied, retained = _faults_per_allocation("retain")
    _, default = _faults_per_allocation("default")
    assert applied
    # glibc's default maps and unmaps a 64 MiB block each time: ~16,384 faults of 4 KiB
    # pages (fewer with transparent huge pages); kept memory is reused with next to none.
    assert default > 1000, default
    assert retained < 100, retained
