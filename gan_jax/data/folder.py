"""A folder of the user's own images, built once into a TFDS dataset on disk.

``prepare(path, resolution)`` decodes every image under ``path``, brings it to
``resolution x resolution x channels`` uint8 and writes the result as a TFDS
dataset in ``<data_dir>/gan_jax_folders/<fingerprint>/``, which
``tfds.builder_from_directory`` (or ``builder(dataset)``) reads. The
fingerprint is a SHA-256 over the list of image files (relative path, size,
modification time), the settings and ``FORMAT_VERSION``: an unchanged folder is
found again and not rebuilt, while a touched, added or removed image, or another
resolution or channel count, makes a new dataset.

Folder layout
    - Images are the files whose names end in one of ``IMAGE_SUFFIXES`` (any
      case); other files are ignored, and so are hidden files and folders (a
      name starting with ".") with everything under them.
    - Flat: all images lie directly in ``path``. The dataset is unlabelled.
    - Classes: all images lie in subfolders of ``path``. Each top-level
      subfolder that holds at least one image, at any depth below it, is a
      class named after the subfolder; class indices follow the sorted names.
      Deeper folders belong to the class of their top-level folder.
    - Both loose images and class subfolders: refused, with a message asking to
      move the loose images into a subfolder of their own, since no label
      would be right for them. Subfolders without any image are ignored.
    - Symbolic links to files and folders are followed (each folder once).

Preprocessing: ``gan_jax/data/images.py`` (``load_image``), one image at a time.

Building
    Images are decoded by a pool of processes (one per core; in this process
    for a folder of under 64 images, where starting processes would cost
    more), in order (``imap``), with a bounded number in flight, so the dataset
    streams to disk and a large folder never has to fit in memory. The dataset is written into a
    temporary directory beside its final place and renamed there only when
    complete, so an interrupted build (Ctrl-C, SIGKILL) never leaves a dataset
    a later run would read; the next build removes such leftovers. A lock per
    fingerprint keeps concurrent builds of the same folder from racing.

Dataset
    Features ``image`` (``tfds.features.Image``, uint8 ``[R, R, C]``, PNG) and,
    for a folder of classes only, ``label`` (``tfds.features.ClassLabel`` with
    the sorted class names); one split, ``train``. Examples are keyed by their
    relative path, so two builds of the same folder store the same examples in
    the same order. Beside TFDS's files, ``gan_jax_folder.json`` records the
    source path, the settings, the fingerprint, the class names and the build
    summary.

Bad input ends in ``FolderError``, one line naming the path and the fix. An
image that cannot be decoded (corrupt, truncated, unreadable, over the bomb
limit) is skipped with a warning naming it and counted in the summary, or stops
the build with ``on_bad_image="error"``; in neither case is anything
half-written left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock
import numpy as np
import tensorflow_datasets as tfds
from absl import logging as absl_logging
from PIL import Image
from tqdm import tqdm

from gan_jax.data import images
from gan_jax.errors import one_line

# Part of the fingerprint: raise it when the preprocessing or the dataset format
# changes, so that datasets built by older code are not read as current ones.
FORMAT_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
METADATA_FILE = "gan_jax_folder.json"
STORE = "gan_jax_folders"
BAD_IMAGE_ACTIONS = ("skip", "error")
_TMP_PREFIX = ".tmp-"
# Decoded images waiting to be written, per worker: enough to keep the workers
# busy, few enough that a slow writer does not pile up a folder's worth in memory.
_IN_FLIGHT_PER_WORKER = 64
_CHUNK = 4


class FolderError(ValueError):
    """The folder or the settings cannot be built from; the message is one line with the fix."""


@dataclasses.dataclass(frozen=True)
class FolderDataset:
    """A built folder dataset: where it is and what it holds."""

    directory: str            # what tfds.builder_from_directory(directory) reads
    fingerprint: str          # hex digest of the file list, the settings and FORMAT_VERSION
    num_examples: int
    class_names: tuple[str, ...] | None   # sorted subfolder names; None for a flat folder
    shape: tuple[int, int, int]           # (resolution, resolution, channels)
    summary: dict             # found, written, skipped, skipped_files, upscaled, ignored, ...


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What to build: the images (sorted relative path, size, mtime_ns) and how."""

    source: Path
    files: tuple[tuple[str, int, int], ...]
    class_names: tuple[str, ...] | None
    ignored: int
    settings: dict

    @property
    def shape(self) -> tuple[int, int, int]:
        side = self.settings["resolution"]
        return (side, side, self.settings["channels"])

    def label(self, relative: str) -> int | None:
        if self.class_names is None:
            return None
        return self.class_names.index(relative.split("/", 1)[0])


def prepare(path: str, resolution: int, channels: int = 3, data_dir: str | None = None,
            on_bad_image: str = "skip", log: Callable[[str], object] = print, *,
            workers: int | None = None, max_image_pixels: int | None = None) -> FolderDataset:
    """Builds the images under ``path`` into a TFDS dataset, or finds the one built before.

    ``data_dir`` None means TFDS's default ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    ``on_bad_image``: "skip" an image that cannot be decoded (with a warning
    through ``log``) or stop with an "error". ``workers``: decoding processes,
    one per core when None (none for a folder under 64 images); 1 decodes in
    this process. ``max_image_pixels``: the decompression-bomb limit, PIL's
    ``Image.MAX_IMAGE_PIXELS`` when None. Raises ``FolderError`` with a
    one-line message.
    """
    check_settings(resolution, channels, on_bad_image)
    resolution, channels = int(resolution), int(channels)
    if max_image_pixels is None:
        max_image_pixels = Image.MAX_IMAGE_PIXELS
    settings = {"resolution": resolution, "channels": channels,
                "max_image_pixels": max_image_pixels, "resize_filter": images.RESIZE_FILTER.name}
    plan = _plan(Path(path).expanduser(), settings)
    fingerprint = _fingerprint(plan)
    store = Path(data_dir or tfds.core.constants.get_default_data_dir()).expanduser() / STORE
    final = store / fingerprint
    dataset = _load_built(final, on_bad_image)
    if dataset is not None:
        log(f"{plan.source}: already built in {final}; nothing to do")
        return dataset
    try:
        store.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(store / f".{fingerprint}.lock")):
            dataset = _load_built(final, on_bad_image)
            if dataset is not None:  # another process built it while this one waited
                return dataset
            _remove_leftovers(store, fingerprint)
            _build(plan, fingerprint, store, on_bad_image, workers, log)
    except OSError as e:
        raise FolderError(f"cannot write the dataset under {store} ({one_line(e)}); give a "
                          "writable data_dir (--data_dir) with space for it") from None
    return _load_built(final, on_bad_image, reused=False)


def builder(dataset: FolderDataset):
    """The TFDS builder that reads ``dataset`` (``tfds.builder_from_directory``)."""
    return tfds.builder_from_directory(dataset.directory)


def describe(dataset: FolderDataset, seconds: float | None = None) -> str:
    """A few lines for people: what was found, written and skipped, and where it went."""
    counts = dataset.summary
    side, _, channels = dataset.shape
    done = "found already built" if counts.get("reused") else "built"
    if seconds is not None:
        done += f" in {seconds:.1f} s"
    classes = ("unlabelled" if dataset.class_names is None else
               f"{len(dataset.class_names)} classes: {', '.join(dataset.class_names)}")
    return (f"{counts['source']}: {counts['found']} images found, {counts['written']} written, "
            f"{counts['skipped']} skipped, {counts['upscaled']} upscaled, {counts['ignored']} "
            f"other files ignored; {classes}\n"
            f"{dataset.directory}: {side}x{side}x{channels}, train: {dataset.num_examples} "
            f"({done})")


def check_settings(resolution, channels, on_bad_image) -> None:
    """Raises ``FolderError`` unless the settings are ones ``prepare`` accepts."""
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) \
            or resolution < 1:
        raise FolderError(f"resolution must be a positive integer (pixels per side), "
                          f"not {resolution!r}")
    if isinstance(channels, bool) or channels not in (1, 3):
        raise FolderError(f"channels must be 1 (greyscale) or 3 (RGB), not {channels!r}")
    if on_bad_image not in BAD_IMAGE_ACTIONS:
        raise FolderError(f"on_bad_image must be 'skip' or 'error', not {on_bad_image!r}")


def _plan(source: Path, settings: dict) -> _Plan:
    """The images under ``source`` by the layout rules of the module docstring."""
    if not source.exists():
        raise FolderError(f"image folder {source} does not exist; give the path of a folder "
                          "of images (--path)")
    if not source.is_dir():
        raise FolderError(f"{source} is a file, not a folder; give the folder that holds the "
                          "images (--path)")
    source = source.resolve()
    seen: set[tuple[int, int]] = set()
    loose, ignored, classes = [], 0, {}
    entries = _entries(source, seen)
    if not entries:
        raise FolderError(f"image folder {source} is empty; put images ({_suffixes()}) in it, "
                          "or one subfolder of images per class")
    for entry in entries:
        if entry.name.startswith("."):
            ignored += 1
        elif _is_dir(entry):
            found, skipped = _walk(Path(entry.path), entry.name, seen)
            ignored += skipped
            if found:
                classes[entry.name] = found
        elif _is_image(entry):
            loose.append(_file_record(entry, entry.name))
        else:
            ignored += 1
    if loose and classes:
        raise FolderError(
            f"image folder {source} holds {len(loose)} loose images beside the class "
            f"subfolders {_some(sorted(classes))}; move the loose images into a subfolder of "
            "their own (or the subfolders out) so that every image has a class")
    if not loose and not classes:
        raise FolderError(f"image folder {source} holds no images, only {ignored} other files "
                          f"or folders; gan-jax reads {_suffixes()}, in the folder or in one "
                          "subfolder per class")
    for name in classes:
        _check_name(name, source)
    files = loose or [record for name in sorted(classes) for record in classes[name]]
    class_names = tuple(sorted(classes)) if classes else None
    return _Plan(source, tuple(sorted(files)), class_names, ignored, settings)


def _walk(directory: Path, relative: str, seen: set) -> tuple[list, int]:
    """The image records below ``directory`` and the number of entries ignored there."""
    records, ignored = [], 0
    for entry in _entries(directory, seen):
        name = f"{relative}/{entry.name}"
        if entry.name.startswith("."):
            ignored += 1
        elif _is_dir(entry):
            found, skipped = _walk(Path(entry.path), name, seen)
            records += found
            ignored += skipped
        elif _is_image(entry):
            records.append(_file_record(entry, name))
        else:
            ignored += 1
    return records, ignored


def _entries(directory: Path, seen: set) -> list[os.DirEntry]:
    """The entries of ``directory`` sorted by name; none if it was listed before (a link loop)."""
    try:
        status = directory.stat()
        if (status.st_dev, status.st_ino) in seen:
            return []
        seen.add((status.st_dev, status.st_ino))
        with os.scandir(directory) as listing:
            return sorted(listing, key=lambda entry: entry.name)
    except PermissionError:
        raise FolderError(f"cannot read folder {directory}: permission denied; make it "
                          "readable (chmod) or move it out of the image folder") from None
    except OSError as e:
        raise FolderError(f"cannot read folder {directory} ({one_line(e)}); check the disk "
                          "or move it out of the image folder") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_image(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file() and entry.name.lower().endswith(IMAGE_SUFFIXES)
    except OSError:
        return False


def _file_record(entry: os.DirEntry, relative: str) -> tuple[str, int, int]:
    try:
        status = entry.stat()
    except OSError as e:
        raise FolderError(f"cannot read {entry.path} ({one_line(e)}); make it readable or "
                          "move it out of the image folder") from None
    return relative, status.st_size, status.st_mtime_ns


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_name(name: str, source: Path) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise FolderError(f"class folder {name!r} in {source} has a name that is not valid "
                          "UTF-8; rename it") from None
    if "\n" in name or "\r" in name:
        raise FolderError(f"class folder {name!r} in {source} has a line break in its name; "
                          "rename it")


def _fingerprint(plan: _Plan) -> str:
    digest = hashlib.sha256()
    header = {"format_version": FORMAT_VERSION, "settings": plan.settings}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for relative, size, mtime_ns in plan.files:
        digest.update(f"{relative}\0{size}\0{mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:20]


def _load_built(final: Path, on_bad_image: str, reused: bool = True) -> FolderDataset | None:
    """The dataset in ``final`` if one was built there, else None."""
    try:
        metadata = json.loads((final / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    summary = dict(metadata["summary"], reused=reused)
    if on_bad_image == "error" and summary["skipped"]:
        first = summary["skipped_files"][0]
        raise FolderError(
            f"{summary['skipped']} images of {metadata['source']} cannot be read, e.g. "
            f"{first['file']} ({first['reason']}); fix or remove them, or skip them "
            "(on_bad_image='skip', --on_bad_image skip)")
    class_names = metadata["class_names"]
    return FolderDataset(
        directory=str(final), fingerprint=metadata["fingerprint"],
        num_examples=summary["written"],
        class_names=None if class_names is None else tuple(class_names),
        shape=tuple(metadata["shape"]), summary=summary)


def _remove_leftovers(store: Path, fingerprint: str) -> None:
    """Deletes temporary directories of builds that died, never those of running ones."""
    for leftover in store.glob(f"{_TMP_PREFIX}*"):
        owner = leftover.name[len(_TMP_PREFIX):].split("-", 1)[0]
        if owner == fingerprint:  # this process holds that fingerprint's lock
            shutil.rmtree(leftover, ignore_errors=True)
            continue
        try:
            with filelock.FileLock(str(store / f".{owner}.lock"), timeout=0):
                shutil.rmtree(leftover, ignore_errors=True)
        except filelock.Timeout:
            pass  # a build of that folder is running


class _BadImage(Exception):
    """Stops the build at images that cannot be decoded; ``prepare`` turns it into FolderError."""


def _build(plan: _Plan, fingerprint: str, store: Path, on_bad_image: str,
           workers: int | None, log) -> None:
    """Writes the dataset into a temporary directory, then renames it to its final place."""
    start = time.perf_counter()
    per_class = None if plan.class_names is None else dict.fromkeys(plan.class_names, 0)
    report = {"source": str(plan.source), "found": len(plan.files), "written": 0, "skipped": 0,
              "skipped_files": [], "upscaled": 0, "ignored": plan.ignored,
              "per_class": per_class}
    log(f"{plan.source}: building {len(plan.files)} images into {store / fingerprint}")
    temporary = Path(tempfile.mkdtemp(dir=store, prefix=f"{_TMP_PREFIX}{fingerprint}-"))
    # TFDS offers a switch for its bars but no getter; its module variable is the state.
    tfds_bars = tfds.core.utils.tqdm_utils._active
    try:
        # The decoding processes end with this block whatever stops the build (an
        # exception, Ctrl-C): TFDS may hold on to the generator that reads them.
        with _Decoder(plan, workers) as decoder:
            folder_builder = _FolderBuilder(plan, decoder.results(), report, on_bad_image, log,
                                            data_dir=str(temporary))
            # The images' own progress bar says the same as TFDS's, which would double it.
            tfds.display_progress_bar(False)
            try:
                folder_builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(try_download_gcs=False))
            except Exception:
                # The generator's reason to stop, whatever TFDS made of the exception.
                if folder_builder.failure is not None:
                    raise FolderError(folder_builder.failure) from None
                raise
        report["seconds"] = round(time.perf_counter() - start, 3)
        metadata = {
            "format_version": FORMAT_VERSION, "source": str(plan.source),
            "settings": plan.settings, "fingerprint": fingerprint,
            "class_names": None if plan.class_names is None else list(plan.class_names),
            "shape": list(plan.shape), "num_examples": report["written"],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "summary": report,
        }
        written = Path(folder_builder.data_dir)
        (written / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
        os.replace(written, store / fingerprint)
    finally:
        tfds.display_progress_bar(tfds_bars)
        shutil.rmtree(temporary, ignore_errors=True)


class _FolderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Writes a ``_Plan``'s images; not registered, since each folder is its own dataset."""

    name = "gan_jax_folder"
    VERSION = tfds.core.Version(f"{FORMAT_VERSION}.0.0")
    RELEASE_NOTES = {f"{FORMAT_VERSION}.0.0": "Centre crop, LANCZOS resize, alpha on white."}
    # TFDS 4.9.10 looks the code path up through a package that a plain install lacks
    # (tensorflow/datasets#11212); naming it skips that lookup.
    code_path = Path(__file__)

    def __init__(self, plan: _Plan, decoded: Iterator, report: dict, on_bad_image: str, log,
                 **kwargs):
        self._plan, self._decoded, self._report, self._log = plan, decoded, report, log
        self._on_bad_image = on_bad_image
        self.failure: str | None = None   # why the build stopped, for FolderError
        super().__init__(**kwargs)

    def _info(self):
        features = {"image": tfds.features.Image(shape=self._plan.shape, dtype=np.uint8)}
        if self._plan.class_names is not None:
            features["label"] = tfds.features.ClassLabel(names=self._plan.class_names)
        side, _, channels = self._plan.shape
        return self.dataset_info_from_configs(
            description=f"The images of {self._plan.source}, centre-cropped to a square and "
                        f"resized to {side}x{side} with PIL LANCZOS, {channels} channel(s), "
                        "transparency composited on white (gan_jax.data.folder).",
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label") if "label" in features else None,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the images are local
        return {"train": self._generate_examples()}

    # TFDS's own lines name the temporary directory; prepare's log names the final one.
    def _log_download_bytes(self):
        pass

    def _log_download_done(self):
        pass

    def _generate_examples(self):
        report = self._report
        for (relative, _, _), (pixels, upscaled, reason) in zip(
                self._plan.files, self._decoded, strict=True):
            if reason is not None:
                where = self._plan.source / relative
                if self._on_bad_image == "error":
                    self.failure = (
                        f"cannot read image {where} ({reason}); fix or remove it, or skip bad "
                        "images (on_bad_image='skip', --on_bad_image skip)")
                    raise _BadImage(self.failure)
                report["skipped"] += 1
                report["skipped_files"].append({"file": relative, "reason": reason})
                with tqdm.external_write_mode():
                    self._log(f"warning: skipped {where}: {reason}")
                continue
            report["written"] += 1
            report["upscaled"] += int(upscaled)
            example = {"image": pixels}
            label = self._plan.label(relative)
            if label is not None:
                example["label"] = label
                report["per_class"][self._plan.class_names[label]] += 1
            # The relative path is unique and fixed, so TFDS orders the examples the
            # same way in every build. TFDS hashes keys as UTF-8, which a file name
            # that is not (kept by Python as surrogates) gets by escaping its bytes.
            key = relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            yield key, example
        if report["written"] == 0:
            first = report["skipped_files"][0]
            self.failure = (f"none of the {report['found']} images in {self._plan.source} can "
                            f"be read, e.g. {first['file']} ({first['reason']}); check the files")
            raise _BadImage(self.failure)


class _Decoder:
    """``images.decode``'s results for a plan's files, in order, from a pool while in its block."""

    def __init__(self, plan: _Plan, workers: int | None):
        settings = plan.settings
        self._tasks = [(str(plan.source / relative), settings["resolution"],
                        settings["channels"], settings["max_image_pixels"])
                       for relative, _, _ in plan.files]
        # Starting a process costs about as much as decoding a few dozen small images.
        self._workers = workers or min(_cores(), max(1, len(plan.files) // 32))
        self._slots = threading.Semaphore(self._workers * _IN_FLIGHT_PER_WORKER)
        self._closing = threading.Event()
        self._pool = None
        self._bar = tqdm(total=len(plan.files), unit="img", desc="decoding", disable=None)

    def __enter__(self) -> _Decoder:
        if self._workers > 1:
            # Spawned, not forked: the parent may run TensorFlow's and JAX's threads.
            self._pool = multiprocessing.get_context("spawn").Pool(self._workers)
        return self

    def __exit__(self, *exc_info) -> None:
        # Free the pool's task feeder if it waits for a slot, then stop the workers.
        self._closing.set()
        self._slots.release(self._workers * _IN_FLIGHT_PER_WORKER)
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
        self._bar.close()

    def results(self) -> Iterator:
        if self._pool is None:
            for task in self._tasks:
                yield images.decode(task)
                self._bar.update()
            return
        for result in self._pool.imap(images.decode, self._bounded(), chunksize=_CHUNK):
            self._slots.release()
            self._bar.update()
            yield result

    def _bounded(self) -> Iterator:
        """The tasks, each waiting for a free slot, so few results wait to be written."""
        for task in self._tasks:
            self._slots.acquire()
            if self._closing.is_set():
                return
            yield task


def main(argv: list[str]) -> int:
    """``gan-jax data prepare folder``: prints a summary, or one error line and returns 2."""
    parser = CommandParser(
        prog="gan-jax data prepare folder",
        description="Build a folder of images (flat, or one subfolder per class) into a TFDS "
                    "dataset, once; an unchanged folder is found again.")
    parser.add_argument("--path", required=True, help="the folder of images")
    parser.add_argument("--resolution", type=int, required=True, help="pixels per side")
    parser.add_argument("--channels", type=int, default=3, help="3 (RGB) or 1 (greyscale)")
    parser.add_argument("--data_dir", default=None,
                        help="TFDS data dir (default: TFDS's, ~/tensorflow_datasets)")
    parser.add_argument("--on_bad_image", default="skip", choices=BAD_IMAGE_ACTIONS,
                        help="skip images that cannot be decoded, or stop at the first")
    args = parser.parse_args(argv)
    return run_command(lambda: prepare(args.path, args.resolution, args.channels,
                                       args.data_dir, args.on_bad_image))


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose complaints are one ``gan-jax: error: ...`` line (status 2)."""

    def error(self, message):
        self.exit(2, f"gan-jax: error: {message} (see `{self.prog} --help`)\n")


def run_command(build: Callable[[], FolderDataset], errors: tuple = (FolderError,)) -> int:
    """Runs ``build`` for a command line: prints ``describe``'s lines and returns 0, or
    prints ``gan-jax: error: ...`` on stderr and returns 2 for any of ``errors``."""
    start = time.perf_counter()
    try:
        with _quiet_tensorflow():
            dataset = build()
    except errors as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    print(describe(dataset, time.perf_counter() - start))
    return 0


@contextlib.contextmanager
def _quiet_tensorflow():
    """TFDS's log lines off the console for a while: it logs each dataset folder it has not
    written yet, the normal case here. (TensorFlow's own start-up lines are filtered by the
    entry points, ``gan_jax.host.quiet_tensorflow``.)"""
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _suffixes() -> str:
    return " ".join(IMAGE_SUFFIXES)
