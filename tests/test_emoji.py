"""Tests for gan_jax/data/emoji.py: the Twemoji images, by category, as a folder dataset.

All but the last test work on a small fake package built here, with the pinned
checksums replaced by its own. The last one fetches the real package with npm,
as CI machines reach the npm registry; where npm cannot, it fails rather than
skips, so a broken route is seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from PIL import Image

from gan_jax.data import emoji, fetch, folder, prepare

# The fake index: an entry with two skin tones, categories needing no change and
# one that file systems refuse as a name.
FAKE_INDEX = [
    {"image": "1f44b.png", "category": "People & Body",
     "skin_variations": {"1F3FB": {"image": "1f44b-1f3fb.png"},
                         "1F3FF": {"image": "1f44b-1f3ff.png"}}},
    {"image": "1f600.png", "category": "Smileys & Emotion"},
    {"image": "1f601.png", "category": "Smileys & Emotion", "skin_variations": None},
    {"image": "2753.png", "category": "What? A/B: test"},
    {"image": "none.png", "category": "Flags", "has_img_twitter": False},
]
LISTED = {"1f44b.png": "People & Body", "1f44b-1f3fb.png": "People & Body",
          "1f44b-1f3ff.png": "People & Body", "1f600.png": "Smileys & Emotion",
          "1f601.png": "Smileys & Emotion", "2753.png": "What? A/B: test"}


def _png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _fake_tarball(path: Path, index=FAKE_INDEX, drop: str | None = None) -> Path:
    """A tarball laid out like the npm package, with a few things that must not be written."""
    members = {emoji.INDEX: json.dumps(index).encode()}
    for number, name in enumerate([*LISTED, "unlisted.png"]):
        if name != drop:
            members[emoji.IMAGE_DIR + name] = _png((number * 40, 0, 0, 255))
    members["package/img/twitter/sheets/64.png"] = _png((0, 0, 0, 255))
    members["../escaped.png"] = _png((0, 0, 0, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 499162500
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(emoji.IMAGE_DIR + "link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Path:
    """The fake tarball, its checksums pinned in place of the real ones."""
    tarball = _fake_tarball(tmp_path / "given" / emoji.TARBALL)
    monkeypatch.setattr(emoji, "TARBALL_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    monkeypatch.setattr(emoji, "INDEX_SHA256",
                        hashlib.sha256(json.dumps(FAKE_INDEX).encode()).hexdigest())
    return tarball


@pytest.fixture
def no_npm(monkeypatch):
    """Fails the test if npm is run."""
    def refuse(*args, **kwargs):
        raise AssertionError("npm was run")

    monkeypatch.setattr(fetch, "run", refuse)


def _prepare(tmp_path, **kwargs) -> tuple[folder.FolderDataset, list[str]]:
    logs = []
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("resolution", 8)
    dataset = emoji.prepare(str(tmp_path / "tfds"), log=logs.append, **kwargs)
    return dataset, logs


def _cache(tmp_path) -> Path:
    return prepare.cache_dir("emoji", tmp_path / "tfds")


def _files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def test_images_take_their_entry_category_skin_tones_included():
    assert emoji.categories(FAKE_INDEX) == LISTED


def test_category_folder_names_stay_readable():
    assert emoji.folder_name("Smileys & Emotion") == "Smileys & Emotion"
    assert emoji.folder_name("What? A/B: test") == "What_ A_B_ test"
    assert emoji.folder_name("...") == "_"


def test_a_given_tarball_is_laid_out_by_category_and_built(tmp_path, fake, no_npm):
    dataset, logs = _prepare(tmp_path, source=str(fake), fetch=False)

    layout = _cache(tmp_path) / emoji.LAYOUT
    expected = sorted(f"{emoji.folder_name(category)}/{name}" for name, category in LISTED.items())
    assert _files_under(layout) == expected
    assert dataset.class_names == ("People & Body", "Smileys & Emotion", "What_ A_B_ test")
    assert dataset.summary["per_class"] == {"People & Body": 3, "Smileys & Emotion": 2,
                                            "What_ A_B_ test": 1}
    assert dataset.num_examples == 6 and dataset.shape == (8, 8, 3)
    assert (layout / "Smileys & Emotion" / "1f600.png").stat().st_mtime == 499162500
    assert any("laid out 6 emoji images in 3 categories" in line
               and "left out 1 images that emoji.json does not list" in line for line in logs)
    # Only the listed regular files were written: no sheet, link or escaping path.
    assert not (tmp_path / "escaped.png").exists() and not list(tmp_path.rglob("escaped.png"))
    assert not list(tmp_path.rglob("link.png")) and not list(tmp_path.rglob("64.png"))
    assert not (_cache(tmp_path) / emoji.TARBALL).exists()   # a given source is not copied

    again, _ = _prepare(tmp_path, fetch=False)                # the layout is found
    assert again.summary["reused"] and again.directory == dataset.directory


def test_a_tarball_with_another_checksum_is_refused_before_anything_is_written(
        tmp_path, fake, no_npm, monkeypatch):
    monkeypatch.setattr(emoji, "TARBALL_SHA256", "0" * 64)
    with pytest.raises(emoji.EmojiError) as info:
        _prepare(tmp_path, source=str(fake), fetch=False)
    message = str(info.value)
    assert "\n" not in message and f"{fake} has SHA-256 " in message and "0" * 64 in message
    assert _files_under(_cache(tmp_path)) == [".lock"]
    assert not (tmp_path / "tfds" / folder.STORE).exists()


def test_the_fetch_keeps_the_tarball_only_when_its_checksum_is_right(tmp_path, fake,
                                                                     monkeypatch):
    fetched = []

    def npm_pack(cmd, cwd):
        assert cmd == ["npm", "pack", emoji.NPM_PACKAGE]
        fetched.append(cwd)
        shutil.copy(fake, cwd / emoji.TARBALL)

    monkeypatch.setattr(fetch, "run", npm_pack)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/bin/{tool}")
    right = emoji.TARBALL_SHA256
    monkeypatch.setattr(emoji, "TARBALL_SHA256", "f" * 64)
    with pytest.raises(emoji.EmojiError) as info:
        _prepare(tmp_path)
    message = str(info.value)
    assert "\n" not in message and "the npm fetch failed" in message and "f" * 64 in message
    assert _files_under(_cache(tmp_path).parent) == ["emoji/.lock"]   # nothing kept
    assert fetched and fetched[0].parent == _cache(tmp_path).parent     # beside the cache

    monkeypatch.setattr(emoji, "TARBALL_SHA256", right)
    dataset, logs = _prepare(tmp_path)
    assert dataset.num_examples == 6 and len(fetched) == 2
    assert (_cache(tmp_path) / emoji.TARBALL).read_bytes() == fake.read_bytes()
    assert any(line.startswith(f"fetching {emoji.NPM_PACKAGE}") for line in logs)


def test_the_cached_tarball_and_an_extracted_package_work_offline(tmp_path, fake, no_npm):
    cached = _cache(tmp_path) / emoji.TARBALL
    cached.parent.mkdir(parents=True)
    shutil.copy(fake, cached)
    assert _prepare(tmp_path, fetch=False)[0].num_examples == 6

    extracted = tmp_path / "extracted"
    with tarfile.open(fake) as tar:
        for member in tar:
            if member.isfile() and member.name.startswith("package/"):
                target = extracted / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    other = tmp_path / "other"
    dataset = emoji.prepare(str(other), resolution=8, source=str(extracted), fetch=False,
                            log=lambda line: None, workers=1)
    assert dataset.num_examples == 6 and dataset.class_names[0] == "People & Body"


def test_an_extracted_package_missing_images_or_with_another_index_is_refused(
        tmp_path, fake, no_npm, monkeypatch):
    package = tmp_path / "extracted" / "package"
    (package / "img" / "twitter" / "64").mkdir(parents=True)
    (package / "emoji.json").write_text(json.dumps(FAKE_INDEX))
    (package / "img" / "twitter" / "64" / "1f600.png").write_bytes(_png((0, 0, 0, 255)))
    with pytest.raises(emoji.EmojiError, match=r"lacks 5 of the 6 images emoji\.json "
                                               r"lists, e\.g\. 1f44b-1f3fb\.png"):
        _prepare(tmp_path, source=str(package.parent), fetch=False)
    monkeypatch.setattr(emoji, "INDEX_SHA256", "1" * 64)
    with pytest.raises(emoji.EmojiError, match=r"emoji\.json has SHA-256 \w+, expected 1+ "):
        _prepare(tmp_path, source=str(package), fetch=False)
    with pytest.raises(emoji.EmojiError, match="does not exist"):
        _prepare(tmp_path, source=str(tmp_path / "nowhere"), fetch=False)
    assert not (_cache(tmp_path) / emoji.LAYOUT).exists()


def test_without_the_package_or_a_fetch_the_message_names_the_ways(tmp_path, no_npm, capsys):
    with pytest.raises(emoji.EmojiError) as info:
        _prepare(tmp_path, fetch=False)
    message = str(info.value)
    assert "\n" not in message and str(_cache(tmp_path)) in message
    assert f"npm pack {emoji.NPM_PACKAGE}" in message and "--source" in message
    assert "fetching is disabled (--no_fetch)" in message

    status = prepare.main(["emoji", "--data_dir", str(tmp_path / "tfds"), "--no_fetch"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("gan-jax: error: the emoji images are not in ")


def test_cli_builds_from_a_source_and_prints_a_summary(tmp_path, fake, no_npm, capsys):
    status = prepare.main(["emoji", "--data_dir", str(tmp_path / "tfds"), "--source", str(fake),
                           "--resolution", "4", "--channels", "1", "--no_fetch"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "6 images found, 6 written, 0 skipped" in captured.out
    assert "3 classes: People & Body, Smileys & Emotion, What_ A_B_ test" in captured.out
    assert "4x4x1, train: 6" in captured.out and captured.err == ""


def test_the_real_package_fetched_with_npm(tmp_path):
    """npm pack emoji-datasource-twitter@16.0.0, checked, laid out and built at 64x64."""
    start = time.perf_counter()
    try:
        dataset = emoji.prepare(str(tmp_path / "tfds"), log=lambda line: None)
    except emoji.EmojiError as e:
        pytest.fail(f"the real emoji package could not be fetched or built: {e}")
    seconds = time.perf_counter() - start
    assert dataset.num_examples == 3786 and dataset.summary["skipped"] == 0
    assert dataset.shape == (64, 64, 3) and dataset.summary["upscaled"] == 0
    assert dataset.summary["per_class"] == {
        "Activities": 85, "Animals & Nature": 159, "Component": 5, "Flags": 270,
        "Food & Drink": 131, "Objects": 264, "People & Body": 2261, "Smileys & Emotion": 169,
        "Symbols": 224, "Travel & Places": 218}
    built = folder.builder(dataset)
    assert built.info.features["label"].num_classes == 10
    assert built.info.splits["train"].num_examples == 3786
    print(f"fetched and built the emoji set in {seconds:.1f} s")
