"""host: freed memory is reused without page faults; TensorFlow imports without its start-up
log lines."""

import os
import subprocess
import sys

import pytest

from gan_jax import host

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


def test_without_log_lines_drops_absl_lines_below_the_level():
    notice = (b"WARNING: All log messages before absl::InitializeLog() is called are written to "
              b"STDERR\n")
    info = b"I0000 00:00:1796426378.917961    5421 port.cc:153] oneDNN custom operations are on.\n"
    warning = b"W1204 23:16:50.620069 139727053515648 file_utils.py:394] Variant folder\n"
    error = b"E0000 00:00:1796426378.917961    5421 cuda.cc:1] no GPU\n"
    output = b"progress 50%\r" + notice + info + b"own line\n" + warning + error + b"tail"
    assert host.without_log_lines(output, 2) == b"progress 50%\rown line\n" + error + b"tail"
    assert host.without_log_lines(output, 1) == (b"progress 50%\rown line\n" + warning + error
                                                 + b"tail")


_FAKE_TENSORFLOW = """
import os, sys
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written "
            b"to STDERR\\n")
os.write(2, b"I0000 00:00:1796426378.917961    5421 port.cc:153] oneDNN custom operations\\n")
print("printed by the import", file=sys.stderr)
os.write(2, b"E0000 00:00:1796426378.917961    5421 port.cc:1] an error\\n")
if os.environ.get("FAIL_IMPORT"):
    raise ImportError("broken install")
"""

_FAKE_TFDS = """
from absl import logging
logging.warning("a TFDS warning")
logging.error("a TFDS error")
"""

_IMPORTER = """
import importlib.machinery, sys
from absl import logging
from gan_jax import host
host.quiet_tensorflow()
print("before", file=sys.stderr, flush=True)
try:
    import tensorflow
except ImportError as e:
    print("ImportError:", e, file=sys.stderr)
else:
    assert type(tensorflow.__loader__) is importlib.machinery.SourceFileLoader
    assert tensorflow.__spec__.loader is tensorflow.__loader__
import tensorflow_datasets
logging.warning("a warning of the program")
print("after", file=sys.stderr)
"""


@pytest.mark.parametrize("env, expected", [
    ({}, ["before", "printed by the import", "E0000 ", "a TFDS error", "a warning of the program",
          "after"]),
    ({"FAIL_IMPORT": "1"}, ["before", "printed by the import", "E0000 ",
                            "ImportError: broken install", "a TFDS error",
                            "a warning of the program", "after"]),
    ({"TF_CPP_MIN_LOG_LEVEL": "0"}, ["before", "WARNING: All log messages", "I0000 ",
                                     "printed by the import", "E0000 ", "a TFDS error",
                                     "a warning of the program", "after"]),
], ids=["default", "failed_import", "level_0"])
def test_tensorflow_import_is_filtered(tmp_path, env, expected):
    """A stand-in ``tensorflow`` package logs as TensorFlow's shared libraries do on import."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(_FAKE_TENSORFLOW)
    (tmp_path / "tensorflow_datasets").mkdir()
    (tmp_path / "tensorflow_datasets" / "__init__.py").write_text(_FAKE_TFDS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child_env = {"PATH": "", "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}", **env}
    out = subprocess.run([sys.executable, "-c", _IMPORTER], capture_output=True, text=True,
                         env=child_env, timeout=60, check=True)
    lines = out.stderr.splitlines()
    assert len(lines) == len(expected), out.stderr
    assert all(part in line for line, part in zip(lines, expected, strict=True)), out.stderr


def test_tensorflow_imports_without_its_start_up_lines():
    env = {key: value for key, value in os.environ.items()
           if key not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    out = subprocess.run(
        [sys.executable, "-c", "from gan_jax import host; host.quiet_tensorflow(); "
         "import tensorflow as tf; print(float(tf.constant(1.0) + 1))"],
        capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout == "2.0\n"
    assert out.stderr == ""
