"""The on-disk image stores: they read like the arrays they replace, are reused, and rebuilt when photos change."""

import hashlib
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from edgedistill import field
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews, ImageSet, load_data, read_images
from edgedistill.errors import UserError
from edgedistill.field import build_field_split
from edgedistill.image_store import DiskImages, join, select, update_digest, write_store


@pytest.fixture
def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (23, 8, 8, 3), dtype=np.uint8)


@pytest.fixture
def store(pixels, tmp_path) -> DiskImages:
    return write_store(tmp_path / "images.u8", 8, (pixels[i : i + 5] for i in range(0, len(pixels), 5)))


def test_store_reads_like_the_array_it_holds(pixels, store):
    assert store.shape == pixels.shape and len(store) == len(pixels) and store.dtype == np.uint8
    np.testing.assert_array_equal(store[3], pixels[3])
    np.testing.assert_array_equal(store[-1], pixels[-1])
    np.testing.assert_array_equal(store[4:17], pixels[4:17])
    np.testing.assert_array_equal(store[::3], pixels[::3])
    picks = np.array([9, 2, 2, 22, 0, 1, 2, 3])  # unordered, repeated and consecutive runs
    np.testing.assert_array_equal(store[picks], pixels[picks])
    mask = np.arange(23) % 4 == 1
    np.testing.assert_array_equal(store[mask], pixels[mask])
    np.testing.assert_array_equal(store[:], pixels)
    assert store[np.array([], dtype=np.int64)].shape == (0, 8, 8, 3)
    with pytest.raises(IndexError):
        store[23]
    with pytest.raises(IndexError):
        store[np.array([1, 40])]


def test_batches_are_writable_copies_not_views_of_the_file(pixels, store):
    batch = store[0:4]
    batch[:] = 0  # augmentations write into the arrays they are given
    np.testing.assert_array_equal(store[0:4], pixels[0:4])


def test_selections_and_joins_match_numpy(pixels, store):
    order = np.random.default_rng(1).permutation(23)
    chosen = select(store, order[:10])
    np.testing.assert_array_equal(chosen[2:7], pixels[order[:10]][2:7])
    joined = join([store, pixels[:4], chosen])
    expected = np.concatenate([pixels, pixels[:4], pixels[order[:10]]])
    assert joined.shape == expected.shape
    picks = np.array([36, 0, 24, 22, 23, 30])  # from every part, out of order
    np.testing.assert_array_equal(joined[picks], expected[picks])
    assert isinstance(join([pixels, pixels]), np.ndarray)  # in-memory parts stay an array


def test_digest_of_a_store_is_the_digest_of_its_pixels(pixels, store):
    digest = hashlib.sha256()
    update_digest(digest, store)
    assert digest.hexdigest() == hashlib.sha256(pixels.tobytes()).hexdigest()


def test_store_survives_pickling_and_forked_workers(pixels, store):
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(store))[5:9], pixels[5:9])
    views = AugmentedViews(store, np.zeros(len(store), dtype=np.int64), build_train_transform("phone", 8), seed=0)
    in_memory = AugmentedViews(pixels, np.zeros(len(pixels), dtype=np.int64), build_train_transform("phone", 8), 0)
    pairs = [(i, 1) for i in range(len(pixels))]
    from_store = torch.cat([b[0] for b in DataLoader(views, batch_size=4, sampler=pairs, num_workers=2)])
    from_memory = torch.cat([b[0] for b in DataLoader(in_memory, batch_size=4, sampler=pairs, num_workers=0)])
    torch.testing.assert_close(from_store, from_memory, rtol=0, atol=0)


def test_a_truncated_store_is_named(pixels, store):
    with open(store.path, "r+b") as file:
        file.truncate(8 * 8 * 3 * 20 + 1)
    with pytest.raises(ValueError, match="not a whole number"):
        DiskImages(store.path, 8)


def test_folder_is_decoded_once_and_again_when_a_photo_changes(image_folder):
    first = load_data(str(image_folder), 32)
    assert isinstance(first.train.images, DiskImages) and first.train.images.shape == (36, 32, 32, 3)
    again = load_data(str(image_folder), 32)
    assert again.train.images.path == first.train.images.path  # reused, not decoded again
    photo = sorted((image_folder / "train" / "red").iterdir())[0]
    Image.new("RGB", (40, 48), (0, 0, 0)).save(photo)
    os.utime(photo, ns=(1, 1))  # a changed file is seen even if its size and time look unchanged otherwise
    changed = load_data(str(image_folder), 32)
    assert changed.train.images.path != first.train.images.path
    red = first.classes.index("red") * 12  # its first photo's place: classes in name order, 12 photos each
    assert changed.train.images[red].max() == 0 and first.train.images[red].max() > 0
    assert load_data(str(image_folder), 24).train.images.shape == (36, 24, 24, 3)


def test_a_photo_that_cannot_be_read_leaves_no_store(image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "cache"))
    paths = sorted((image_folder / "train").rglob("*.png"))
    paths[-1].write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read image"):
        read_images(paths, 32)
    assert list((tmp_path / "cache" / "images").iterdir()) == []


def test_field_split_is_written_to_disk_and_rebuilt_identically_by_worker_processes(tmp_path, monkeypatch):
    """Large splits are corrupted by one process per core: the bytes must not depend on which process did it."""
    test = ImageSet(np.random.default_rng(0).integers(0, 256, (70, 32, 32, 3), dtype=np.uint8), np.arange(70) % 2)
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "one"))
    first = build_field_split(test, ("gaussian_noise", "zoom_blur"))
    assert isinstance(first.images, DiskImages) and first.images.path.is_relative_to(tmp_path / "one")
    monkeypatch.setenv("EDGEDISTILL_CACHE", str(tmp_path / "two"))
    monkeypatch.setattr(field, "PARALLEL_FROM_PIXELS", 0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    rebuilt = build_field_split(test, ("gaussian_noise", "zoom_blur"))
    assert first.images.path.read_bytes() == rebuilt.images.path.read_bytes()
    np.testing.assert_array_equal(first.labels, test.labels[np.tile(np.arange(70), 2)])
