import os
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from edgedistill import demo_data
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews, load_data, to_model_input, worker_count
from edgedistill.errors import UserError
from edgedistill.losses import UNLABELED
from edgedistill.run import with_unlabeled


def test_demo_is_deterministic_and_balanced():
    first = demo_data.generate_split(per_class=3, image_size=32, seed=7)
    second = demo_data.generate_split(per_class=3, image_size=32, seed=7)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.images.shape == (30, 32, 32, 3) and first.images.dtype == np.uint8
    assert np.bincount(first.labels).tolist() == [3] * len(demo_data.CLASSES)
    assert not np.array_equal(first.images, demo_data.generate_split(3, 32, seed=8).images)


def test_demo_colour_carries_no_class_information():
    """Mean colour per class must be nearly the same, or the task would not need shape features."""
    split = demo_data.generate_split(per_class=40, image_size=32, seed=0)
    means = np.stack([split.images[split.labels == c].reshape(-1, 3).mean(0) for c in range(len(demo_data.CLASSES))])
    assert np.ptp(means, axis=0).max() < 25


def test_demo_loads_from_cache_with_all_splits():
    data = load_data("demo", 32)
    assert data.classes == list(demo_data.CLASSES)
    assert len(data.train.labels) == 2000 and len(data.test.labels) == 1000 and len(data.val.labels) == 500
    assert len(data.unlabeled) == 8000  # the pool the distilled students learn the teacher's answers on
    np.testing.assert_array_equal(load_data("demo", 32).test.images, data.test.images)


def test_image_folder_is_resized_and_labelled(image_folder):
    data = load_data(str(image_folder), 16)
    assert data.classes == ["blue", "green", "red"]
    assert data.train.images.shape == (36, 16, 16, 3)
    assert data.test.images.shape == (12, 16, 16, 3)
    assert data.val is None
    red = data.train.images[data.train.labels == 2].reshape(-1, 3).mean(0)
    assert red[0] > 150 and red[2] < 80


def test_missing_folder_says_what_to_pass(tmp_path):
    with pytest.raises(UserError, match="does not exist.*data='demo'"):
        load_data(str(tmp_path / "nowhere"), 32)


def test_missing_test_split_is_named(image_folder):
    for path in (image_folder / "test").rglob("*.png"):
        path.unlink()
    for folder in sorted((image_folder / "test").iterdir()):
        folder.rmdir()
    (image_folder / "test").rmdir()
    with pytest.raises(UserError, match="no test/ subfolder"):
        load_data(str(image_folder), 32)


def test_empty_split_is_refused(image_folder):
    for path in (image_folder / "test").rglob("*.png"):
        path.unlink()
    with pytest.raises(UserError, match="holds no images"):
        load_data(str(image_folder), 32)


def test_unreadable_image_is_named(image_folder):
    broken = image_folder / "train" / "red" / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(UserError, match=r"cannot read image .*broken\.jpg"):
        load_data(str(image_folder), 32)


def test_test_classes_must_exist_in_train(image_folder):
    (image_folder / "test" / "purple").mkdir()
    with pytest.raises(UserError, match="purple"):
        load_data(str(image_folder), 32)


def test_views_are_the_same_with_and_without_workers():
    split = demo_data.generate_split(per_class=2, image_size=32, seed=1)
    views = AugmentedViews(split.images, split.labels, build_train_transform("phone", 32), seed=3)

    def batches(view, workers):
        pairs = [(i, view) for i in range(len(views))]
        loader = DataLoader(views, batch_size=5, sampler=pairs, num_workers=workers)
        return torch.cat([images for images, _, _, _ in loader])

    second_view = batches(2, workers=0)
    torch.testing.assert_close(second_view, batches(2, workers=2), rtol=0, atol=0)
    assert not torch.equal(second_view, batches(3, workers=0))


def test_model_input_normalises_per_channel():
    images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = to_model_input(images, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))


def test_cifar10_goes_through_torchvision_loader(monkeypatch):
    """Offline here, so torchvision's CIFAR10 class is replaced by one that serves arrays of its shape."""
    import torchvision.datasets

    calls = []

    class OfflineCIFAR10:
        classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

        def __init__(self, root, train, download):
            calls.append((train, download))
            count = 20 if train else 10
            self.data = np.random.default_rng(int(train)).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
            self.targets = list(range(10)) * (count // 10)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", OfflineCIFAR10)
    data = load_data("cifar10", 24)
    assert calls == [(True, True), (False, True)]
    assert data.classes[0] == "airplane" and data.source == "cifar10"
    assert data.train.images.shape == (20, 24, 24, 3) and data.test.images.shape == (10, 24, 24, 3)
    assert data.train.labels.tolist() == list(range(10)) * 2


def test_cifar10_offline_failure_is_one_clear_line(monkeypatch):
    import torchvision.datasets

    def unreachable(root, train, download):
        raise RuntimeError("Error downloading cifar-10-python.tar.gz")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", unreachable)
    with pytest.raises(UserError, match=r"could not load CIFAR-10 .*data='PATH_TO_IMAGEFOLDER'"):
        load_data("cifar10", 32)


def test_worker_count_defaults_to_this_process_share_of_the_cores(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert worker_count(None) == cores and worker_count(0) == 0 and worker_count(5) == 5
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores * 2))  # more torchrun processes than cores: one each
    assert worker_count(None) == 1


def test_the_distillation_set_is_the_labeled_images_then_the_unlabeled_ones_unless_the_ratio_is_zero(image_folder):
    pool = image_folder / "unlabeled"
    pool.mkdir()
    for index, image in enumerate(sorted((image_folder / "test").rglob("*.png"))[:5]):
        shutil.copy(image, pool / f"{index}.png")
    data = load_data(str(image_folder), 32)
    kd_set = with_unlabeled(data)
    assert list(kd_set.labels) == [*data.train.labels, *[UNLABELED] * 5]
    np.testing.assert_array_equal(kd_set.images[: len(data.train.labels)], data.train.images[:])
    assert with_unlabeled(data, ratio=0) is data.train
    assert len(with_unlabeled(data, str(pool)).labels) == len(kd_set.labels)  # the data's own, named again: once
    other = len(with_unlabeled(data, str(image_folder / "test")).labels)
    assert other == len(kd_set.labels) + len(data.test.labels)  # another folder adds its images
