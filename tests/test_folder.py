"""Tests for gan_jax/data/folder.py: a folder of images built once into a TFDS dataset.

Images are tiny and few, and most builds decode in the test's own process
(``workers=1``); the pool of processes is exercised by the two builds that
compare a pooled build with an in-process one and by the command line.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from gan_jax.data import folder, images, prepare

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _solid(path: Path, size=(8, 8), colour=RED, mode="RGB", **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **save)
    return path


def _build(source, tmp_path, resolution=8, **kwargs) -> tuple[folder.FolderDataset, list[str]]:
    logs = []
    kwargs.setdefault("workers", 1)
    dataset = folder.prepare(str(source), resolution, data_dir=str(tmp_path / "tfds"),
                             log=logs.append, **kwargs)
    return dataset, logs


def _examples(dataset: folder.FolderDataset) -> list[dict]:
    built = tfds.builder_from_directory(dataset.directory)
    return list(tfds.as_numpy(built.as_dataset(split="train")))


def _store_entries(tmp_path) -> list[str]:
    """What the store holds, lock files aside."""
    store = tmp_path / "tfds" / folder.STORE
    return sorted(p.name for p in store.iterdir() if not p.name.endswith(".lock")) \
        if store.exists() else []


def _one_line(message) -> str:
    message = str(message)
    assert "\n" not in message
    return message


# --- Reading back ---------------------------------------------------------------------------

def test_flat_folder_reads_back_unlabelled_with_its_metadata(tmp_path):
    source = tmp_path / "flat"
    _solid(source / "a.png", (8, 8), RED)
    _solid(source / "b.jpg", (20, 12), GREEN, quality=95)
    _solid(source / "c.png", (4, 4), BLUE)
    dataset, _ = _build(source, tmp_path, channels=3)

    assert dataset.class_names is None and dataset.shape == (8, 8, 3)
    assert dataset.num_examples == 3
    assert Path(dataset.directory) == tmp_path / "tfds" / folder.STORE / dataset.fingerprint
    built = folder.builder(dataset)
    assert set(built.info.features) == {"image"}
    assert built.info.features["image"].shape == (8, 8, 3)
    assert list(built.info.splits) == ["train"]
    examples = _examples(dataset)
    assert len(examples) == 3
    assert all(e["image"].shape == (8, 8, 3) and e["image"].dtype == np.uint8 for e in examples)
    metadata = json.loads((Path(dataset.directory) / folder.METADATA_FILE).read_text())
    assert metadata["source"] == str(source.resolve())
    assert metadata["fingerprint"] == dataset.fingerprint and metadata["class_names"] is None
    assert metadata["settings"]["resolution"] == 8 and metadata["settings"]["channels"] == 3
    assert metadata["settings"]["resize_filter"] == "LANCZOS"
    assert metadata["summary"]["found"] == 3 and metadata["summary"]["written"] == 3
    assert metadata["summary"]["upscaled"] == 1   # c.png is 4x4


def test_class_subfolders_are_sorted_labels_and_deeper_folders_join_their_class(tmp_path):
    source = tmp_path / "classes"
    colours = {"zebra": RED, "ant": GREEN, "Moth": BLUE}
    for name, colour in colours.items():
        _solid(source / name / "one.png", colour=colour)
    _solid(source / "ant" / "deeper" / "still" / "two.png", colour=GREEN)
    (source / "empty_dir").mkdir()                 # holds no image: not a class
    dataset, _ = _build(source, tmp_path)

    assert dataset.class_names == ("Moth", "ant", "zebra")   # code-point order
    assert dataset.summary["per_class"] == {"Moth": 1, "ant": 2, "zebra": 1}
    built = folder.builder(dataset)
    assert built.info.features["label"].names == ["Moth", "ant", "zebra"]
    examples = _examples(dataset)
    assert len(examples) == 4
    for example in examples:
        name = dataset.class_names[example["label"]]
        assert tuple(example["image"][4, 4]) == colours[name]
    metadata = json.loads((Path(dataset.directory) / folder.METADATA_FILE).read_text())
    assert metadata["class_names"] == ["Moth", "ant", "zebra"]


def test_a_pooled_build_writes_the_same_records_as_an_in_process_one(tmp_path):
    source = tmp_path / "classes"
    for index in range(12):
        _solid(source / f"c{index % 3}" / f"{index:02d}.png", (10 + index, 9),
               (index * 20, 255 - index * 20, 7))
    one, _ = _build(source, tmp_path / "one", workers=1)
    pooled, _ = _build(source, tmp_path / "two", workers=2)
    assert one.fingerprint == pooled.fingerprint and one.num_examples == 12

    def records(dataset):
        return {p.name: p.read_bytes() for p in Path(dataset.directory).glob("*.tfrecord*")}

    assert records(one) == records(pooled) and records(one)


# --- Preprocessing --------------------------------------------------------------------------

def test_exif_orientation_is_honoured(tmp_path):
    stored = Image.new("RGB", (16, 16), WHITE)
    stored.paste(RED, (0, 0, 8, 8))                # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6                               # display rotated 90 degrees clockwise
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    pixels, _ = images.load_image(tmp_path / "rotated.jpg", 16)
    assert np.abs(pixels[3, 12].astype(int) - RED).max() < 24      # now top-right
    assert pixels[3, 3].min() > 230                                  # top-left is white


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, 4:] = (255, 0, 0, 255)                 # right half opaque red
    rgba[0, 0] = (0, 0, 0, 128)                    # half-transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    pixels, _ = images.load_image(tmp_path / "rgba.png", 8)
    assert tuple(pixels[5, 1]) == WHITE            # fully transparent -> 255
    assert tuple(pixels[5, 6]) == RED
    assert abs(int(pixels[0, 0, 0]) - 127) <= 1    # 255 * (1 - 128/255)

    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 0, 0, 255])
    palette.paste(1, (4, 0, 8, 8))
    palette.save(tmp_path / "palette.png", transparency=0)
    pixels, _ = images.load_image(tmp_path / "palette.png", 8, channels=1)
    assert pixels.shape == (8, 8, 1)
    assert pixels[0, 0, 0] == 255 and pixels[0, 6, 0] < 40          # white, then dark blue

    Image.new("LA", (8, 8), (0, 0)).save(tmp_path / "la.png")
    assert images.load_image(tmp_path / "la.png", 8)[0].min() == 255


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 32768, 65535]] * 4, np.uint16)
    Image.fromarray(values).save(tmp_path / "wide.png")
    assert Image.open(tmp_path / "wide.png").mode.startswith("I")
    Image.fromarray(values.astype(np.int32), "I").save(tmp_path / "wide.tif")
    for name in ("wide.png", "wide.tif"):
        pixels, _ = images.load_image(tmp_path / name, 4, channels=3)
        assert pixels[0, :, 0].tolist() == [0, 100, 128, 255], name
        assert (pixels[..., 0] == pixels[..., 2]).all()


def test_centre_crop_cuts_the_borders_of_wide_and_tall_images(tmp_path):
    wide = Image.new("RGB", (24, 8), GREEN)
    wide.paste(RED, (0, 0, 8, 8))
    wide.paste(BLUE, (16, 0, 24, 8))
    wide.save(tmp_path / "wide.png")
    tall = wide.rotate(90, expand=True)
    tall.save(tmp_path / "tall.png")
    for name in ("wide.png", "tall.png"):
        pixels, upscaled = images.load_image(tmp_path / name, 8)
        assert (pixels == GREEN).all(), name
        assert not upscaled
    # Downscaled by 2 as well: the border colours still do not reach in.
    pixels, _ = images.load_image(tmp_path / "wide.png", 4)
    assert (pixels == GREEN).all()


def test_small_images_are_upscaled_and_the_first_gif_frame_is_taken(tmp_path):
    _solid(tmp_path / "small.png", (3, 3), BLUE)
    pixels, upscaled = images.load_image(tmp_path / "small.png", 9)
    assert upscaled and pixels.shape == (9, 9, 3) and (pixels == BLUE).all()
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    pixels, _ = images.load_image(tmp_path / "anim.gif", 8)
    assert (pixels == RED).all()


def test_mixed_sizes_and_modes_in_one_folder_are_all_converted(tmp_path):
    source = tmp_path / "mixed"
    _solid(source / "rgb.png", (12, 10), RED)
    _solid(source / "rgba.png", (8, 8), (0, 0, 0, 0), "RGBA")
    palette = Image.new("P", (9, 9), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.save(source / "palette.png", transparency=0)
    _solid(source / "grey.png", (8, 16), 90, "L")
    _solid(source / "grey_alpha.png", (8, 8), (90, 0), "LA")
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(source / "wide.png")
    _solid(source / "cmyk.jpg", (8, 8), (0, 255, 255, 0), "CMYK", quality=95)
    _solid(source / "photo.webp", (8, 8), GREEN, lossless=True)
    _solid(source / "plain.bmp", (6, 6), BLUE)
    _solid(source / "anim.gif", (5, 5), RED)
    _solid(source / "TIFF.TIF", (8, 8), GREEN)
    dataset, logs = _build(source, tmp_path, channels=3)

    assert dataset.summary["found"] == 11 and dataset.num_examples == 11
    assert dataset.summary["skipped"] == 0 and not any("warning" in line for line in logs)
    assert dataset.summary["upscaled"] == 2        # the 6x6 BMP and the 5x5 GIF
    examples = _examples(dataset)
    assert all(e["image"].shape == (8, 8, 3) for e in examples)
    greyscale, _ = _build(source, tmp_path, channels=1)
    assert greyscale.shape == (8, 8, 1) and greyscale.num_examples == 11


# --- Folder layout --------------------------------------------------------------------------

def test_hidden_and_non_image_files_are_ignored(tmp_path):
    source = tmp_path / "flat"
    _solid(source / "a.png")
    _solid(source / ".hidden.png")
    _solid(source / ".thumbnails" / "b.png")         # a hidden folder is not a class
    (source / "notes.txt").write_text("not an image")
    (source / "Thumbs.db").write_bytes(b"\0" * 10)
    dataset, _ = _build(source, tmp_path)
    assert dataset.class_names is None and dataset.num_examples == 1
    assert dataset.summary["ignored"] == 4


def test_loose_images_beside_class_subfolders_are_refused(tmp_path):
    source = tmp_path / "both"
    _solid(source / "cats" / "a.png")
    _solid(source / "loose.png")
    with pytest.raises(folder.FolderError) as info:
        _build(source, tmp_path)
    message = _one_line(info.value)
    assert str(source) in message and "1 loose images" in message and "cats" in message
    assert "move the loose images into a subfolder" in message


@pytest.mark.parametrize("contents", ["nothing", "no images"])
def test_a_folder_without_images_is_one_line_naming_it(tmp_path, contents):
    source = tmp_path / "src"
    source.mkdir()
    if contents == "no images":
        (source / "readme.txt").write_text("hello")
        _solid(source / ".hidden.png")
        (source / "empty_class").mkdir()
    with pytest.raises(folder.FolderError) as info:
        _build(source, tmp_path)
    message = _one_line(info.value)
    assert str(source) in message
    assert ("is empty" if contents == "nothing" else "holds no images") in message
    assert _store_entries(tmp_path) == []


def test_missing_path_and_file_path_are_refused(tmp_path):
    with pytest.raises(folder.FolderError, match="does not exist") as info:
        _build(tmp_path / "nowhere", tmp_path)
    assert str(tmp_path / "nowhere") in _one_line(info.value)
    image = _solid(tmp_path / "one.png")
    with pytest.raises(folder.FolderError, match="is a file, not a folder") as info:
        _build(image, tmp_path)
    assert str(image) in _one_line(info.value)


def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    source = tmp_path / "locked"
    _solid(source / "cats" / "a.png")
    locked = source / "cats"
    if os.geteuid() == 0:
        # Root reads any folder whatever its mode, so the refusal the OS would give
        # everyone else is made here.
        scandir = os.scandir

        def refusing(path):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return scandir(path)

        monkeypatch.setattr(os, "scandir", refusing)
    else:
        locked.chmod(0)
    try:
        with pytest.raises(folder.FolderError) as info:
            _build(source, tmp_path)
    finally:
        locked.chmod(0o755)
    message = _one_line(info.value)
    assert f"cannot read folder {locked}: permission denied" in message


# --- Bad images -----------------------------------------------------------------------------

def _bomb_png(path: Path, side: int) -> Path:
    """A PNG header claiming side x side pixels, with no pixel data at all."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def _bad_folder(tmp_path) -> Path:
    source = tmp_path / "bad"
    _solid(source / "good.png", colour=GREEN)
    (source / "corrupt.png").write_bytes(os.urandom(200))
    whole = (source / "good.png").read_bytes()
    (source / "truncated.png").write_bytes(whole[: len(whole) // 2])
    _solid(tmp_path / "photo.jpg", (32, 32), RED, quality=90)
    (source / "truncated.jpg").write_bytes((tmp_path / "photo.jpg").read_bytes()[:300])
    (source / "empty.jpg").write_bytes(b"")
    _bomb_png(source / "bomb.png", 60_000)
    return source


def test_bad_images_are_skipped_with_a_warning_each(tmp_path):
    source = _bad_folder(tmp_path)
    dataset, logs = _build(source, tmp_path)
    assert dataset.num_examples == 1 and dataset.summary["skipped"] == 5
    skipped = {entry["file"]: entry["reason"] for entry in dataset.summary["skipped_files"]}
    assert set(skipped) == {"corrupt.png", "truncated.png", "truncated.jpg", "empty.jpg",
                            "bomb.png"}
    # Refused from its header: decoding the missing pixels would fail otherwise.
    assert skipped["bomb.png"].startswith("DecompressionBombError")
    warnings = [line for line in logs if line.startswith("warning: skipped")]
    assert len(warnings) == 5
    assert all(str(source / name) in " ".join(warnings) for name in skipped)
    assert tuple(_examples(dataset)[0]["image"][0, 0]) == GREEN


def test_on_bad_image_error_stops_and_leaves_nothing(tmp_path):
    source = _bad_folder(tmp_path)
    with pytest.raises(folder.FolderError) as info:
        _build(source, tmp_path, on_bad_image="error")
    message = _one_line(info.value)
    assert message.startswith(f"cannot read image {source / 'bomb.png'}")  # the first, sorted
    assert "--on_bad_image skip" in message
    assert _store_entries(tmp_path) == []
    # A dataset built with skips is not handed to a caller who asked for errors.
    _build(source, tmp_path)
    with pytest.raises(folder.FolderError, match="5 images of .* cannot be read"):
        _build(source, tmp_path, on_bad_image="error")


def test_a_folder_of_only_bad_images_is_one_line(tmp_path):
    source = tmp_path / "bad"
    source.mkdir()
    (source / "a.png").write_bytes(b"not a png")
    (source / "b.jpg").write_bytes(b"")
    with pytest.raises(folder.FolderError) as info:
        _build(source, tmp_path)
    assert "none of the 2 images" in _one_line(info.value)
    assert _store_entries(tmp_path) == []


def test_the_bomb_limit_reaches_the_worker_processes(tmp_path, monkeypatch):
    source = tmp_path / "src"
    _solid(source / "small.png", (8, 8))
    _solid(source / "large.png", (12, 12))          # 144 pixels: over 100, under twice that
    # The pool's processes are fresh interpreters: the limit must travel with the work.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    dataset, _ = _build(source, tmp_path, workers=2)
    assert dataset.num_examples == 1
    (entry,) = dataset.summary["skipped_files"]
    assert entry["file"] == "large.png"
    assert entry["reason"].startswith("DecompressionBombWarning")
    assert Image.MAX_IMAGE_PIXELS == 100 and dataset.summary["found"] == 2


@pytest.mark.parametrize("settings, words", [
    ({"on_bad_image": "ignore"}, "on_bad_image must be 'skip' or 'error'"),
    ({"resolution": 0}, "resolution must be a positive integer"),
    ({"resolution": -8}, "resolution must be a positive integer"),
    ({"resolution": 2.5}, "resolution must be a positive integer"),
    ({"resolution": "64"}, "resolution must be a positive integer"),
    ({"channels": 2}, "channels must be 1 (greyscale) or 3 (RGB)"),
    ({"channels": 4}, "channels must be 1 (greyscale) or 3 (RGB)"),
])
def test_bad_settings_are_one_line(tmp_path, settings, words):
    source = tmp_path / "src"
    _solid(source / "a.png")
    arguments = {"resolution": 8, "channels": 3, "on_bad_image": "skip", **settings}
    with pytest.raises(folder.FolderError) as info:
        folder.prepare(str(source), data_dir=str(tmp_path / "tfds"), **arguments)
    assert words in _one_line(info.value)
    assert not (tmp_path / "tfds").exists()


# --- Fingerprint and interrupted builds -----------------------------------------------------

def test_an_unchanged_folder_is_reused_and_any_change_rebuilds(tmp_path):
    source = tmp_path / "src"
    _solid(source / "a.png", colour=RED)
    _solid(source / "b.png", colour=BLUE)
    first, _ = _build(source, tmp_path)
    info = Path(first.directory) / "dataset_info.json"
    before = info.stat().st_mtime_ns

    again, logs = _build(source, tmp_path)
    assert again.directory == first.directory and again.summary["reused"]
    assert not first.summary["reused"] and "nothing to do" in logs[-1]
    assert info.stat().st_mtime_ns == before
    (source / "notes.txt").write_text("not an image")     # ignored files do not count
    assert _build(source, tmp_path)[0].fingerprint == first.fingerprint

    fingerprints = {first.fingerprint}
    stat = (source / "a.png").stat()
    os.utime(source / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched, _ = _build(source, tmp_path)
    fingerprints.add(touched.fingerprint)
    _solid(source / "c.png", colour=GREEN)
    added, _ = _build(source, tmp_path)
    fingerprints.add(added.fingerprint)
    assert added.num_examples == 3
    fingerprints.add(_build(source, tmp_path, resolution=4)[0].fingerprint)
    fingerprints.add(_build(source, tmp_path, channels=1)[0].fingerprint)
    assert len(fingerprints) == 5
    assert len(_store_entries(tmp_path)) == 5


def test_an_interrupted_build_leaves_no_dataset_and_its_leftovers_go(tmp_path, monkeypatch):
    source = tmp_path / "src"
    for name in ("a.png", "b.png", "c.png"):
        _solid(source / name)
    decode, calls = images.decode, []

    def interrupted_at_the_second(task):
        calls.append(task)
        if len(calls) == 2:
            raise KeyboardInterrupt   # Ctrl-C in the middle of the build
        return decode(task)

    with monkeypatch.context() as patch:
        patch.setattr(images, "decode", interrupted_at_the_second)
        with pytest.raises(KeyboardInterrupt):
            _build(source, tmp_path)
    assert len(calls) == 2 and _store_entries(tmp_path) == []

    # What a killed build leaves (no finally ran): temporary directories, also of
    # another folder. The next build ignores and removes them.
    store = tmp_path / "tfds" / folder.STORE
    for leftover in (".tmp-0123456789abcdef0123-x1", ".tmp-ffffffffffffffffffff-y2"):
        (store / leftover / "gan_jax_folder" / "1.0.0").mkdir(parents=True)
        (store / leftover / "gan_jax_folder" / "1.0.0" / "dataset_info.json").write_text("{")
    dataset, _ = _build(source, tmp_path)
    assert dataset.num_examples == 3
    assert _store_entries(tmp_path) == [dataset.fingerprint]


# --- Command line ---------------------------------------------------------------------------

def test_cli_builds_a_folder_and_prints_a_summary(tmp_path, capsys):
    source = tmp_path / "src"
    _solid(source / "dogs" / "a.png", (16, 16))
    _solid(source / "cats" / "b.png", (4, 4))
    status = prepare.main(["folder", "--path", str(source), "--resolution", "8",
                           "--data_dir", str(tmp_path / "tfds")])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "2 images found, 2 written, 0 skipped, 1 upscaled" in captured.out
    assert "2 classes: cats, dogs" in captured.out
    assert str(tmp_path / "tfds" / folder.STORE) in captured.out
    assert "8x8x3, train: 2" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize("arguments, start", [
    (["--path", "{tmp}/nowhere", "--resolution", "8"], "image folder {tmp}/nowhere does not"),
    (["--path", "{tmp}/src", "--resolution", "8", "--channels", "2"], "channels must be 1"),
    (["--path", "{tmp}/src", "--resolution", "0"], "resolution must be a positive"),
    (["--path", "{tmp}/src", "--resolution", "8", "--on_bad_image", "error"],
     "cannot read image {tmp}/src/bad.png"),
])
def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys, arguments, start):
    _solid(tmp_path / "src" / "a.png")
    (tmp_path / "src" / "bad.png").write_bytes(b"not a png")
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    status = prepare.main(["folder", *arguments, "--data_dir", str(tmp_path / "tfds")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("gan-jax: error: " + start.format(tmp=tmp_path)), err


def test_cli_usage_errors_are_one_line_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        prepare.main(["folder", "--path", str(tmp_path), "--resolution", "x"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("gan-jax: error: argument --resolution: invalid int value: 'x'")
    assert "gan-jax data prepare folder --help" in err
