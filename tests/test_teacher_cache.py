"""The teacher cache keyed by augmentation: the replayed view is the view the teacher saw, a cache
keyed by image index alone would not be, a cache built for other inputs is refused, building
resumes and shards by rank, top-k keeps the mass, and cached training matches live training."""

import dataclasses

import numpy as np
import pytest
import torch

from edgedistill import demo_data, teacher_cache
from edgedistill.augment import build_train_transform
from edgedistill.cache_build import prepare_cache
from edgedistill.data import AugmentedViews, ImageSet, to_model_input
from edgedistill.errors import UserError
from edgedistill.losses import DistillationLoss
from edgedistill.models import create_model, model_info
from edgedistill.teacher_cache import TeacherCache, compress_topk, digest_views
from edgedistill.trainer import StageSettings, Teacher, fit

SIZE = 24


@pytest.fixture(scope="module")
def train_set():
    split = demo_data.generate_split(per_class=4, image_size=SIZE, seed=0)
    return ImageSet(split.images, split.labels)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(1)
    model = create_model("resnet18", len(demo_data.CLASSES)).eval()
    with torch.no_grad():
        model.fc.weight *= 50  # logits of a confident teacher (an untrained one answers near 0 everywhere)
    return model, model_info(model, "resnet18", list(demo_data.CLASSES), SIZE)


def build(root, teacher, train_set, views=3, topk=None, seed=0):
    model, info = teacher
    return prepare_cache(root, model, info, train_set, "phone", SIZE, seed, views, topk, batch_size=16, workers=0)


def test_replayed_view_is_the_view_the_teacher_saw_and_an_index_key_would_not_be(teacher, train_set, tmp_path):
    model, info = teacher
    reader = build(tmp_path, teacher, train_set).reader()
    replay = AugmentedViews(train_set.images, train_set.labels, build_train_transform("phone", SIZE), seed=0)
    indices = torch.tensor([0, 7, 19, 33])
    for view in range(3):
        images = torch.stack([replay.render(int(i), view) for i in indices])
        assert np.array_equal(digest_views(images), reader.arrays["digests.u64"][indices.numpy(), view])
        with torch.no_grad():
            live = model(to_model_input(images, info.mean, info.std))
        torch.testing.assert_close(reader.logits(indices, view, images), live, atol=1e-2, rtol=2e-3)  # fp16
    # Keyed by index alone, epoch 1 would get the answers for view 0 while training on view 1:
    second = torch.stack([replay.render(int(i), 1) for i in indices])
    assert not np.array_equal(digest_views(second), reader.arrays["digests.u64"][indices.numpy(), 0])
    with torch.no_grad():
        live_second = model(to_model_input(second, info.mean, info.std))
    stale = torch.from_numpy(reader.arrays["logits.f16"][indices.numpy(), 0].astype(np.float32))
    assert (stale - live_second).abs().max() > 0.5
    with pytest.raises(UserError, match="is not the view the teacher saw"):
        reader.logits(indices, 0, second)


def test_a_cache_for_other_inputs_is_refused(teacher, train_set, tmp_path):
    build(tmp_path, teacher, train_set)
    with pytest.raises(UserError, match="built for other inputs .*seed: cache 0, now 5"):
        build(tmp_path, teacher, train_set, seed=5)
    other = create_model("resnet18", len(demo_data.CLASSES)).eval()
    with pytest.raises(UserError, match="teacher_sha256"):
        build(tmp_path, (other, teacher[1]), train_set)
    model, info = teacher  # the same weights built with a stride-1 stem answer otherwise: not the same teacher
    with pytest.raises(UserError, match="teacher_input"):
        build(tmp_path, (model, dataclasses.replace(info, stem="small")), train_set)
    with pytest.raises(UserError, match="teacher_input"):
        build(tmp_path, (model, dataclasses.replace(info, mean=(0.5, 0.5, 0.5))), train_set)
    (tmp_path / "stranger").mkdir()
    (tmp_path / "stranger" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="is not a teacher cache"):
        TeacherCache.create_or_open(tmp_path / "stranger", {"views": 1}, 10)
    assert (tmp_path / "stranger" / "notes.txt").read_text() == "mine"


def test_building_resumes_and_shards_by_rank(teacher, train_set, tmp_path, monkeypatch):
    monkeypatch.setattr(teacher_cache, "CHUNK", 8)  # 40 images: 5 chunks
    whole = build(tmp_path / "one", teacher, train_set)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(UserError, match=r"incomplete \(2 of 5 chunks missing\)"):
        build(tmp_path / "two", teacher, train_set)
    monkeypatch.setenv("RANK", "1")
    sharded = build(tmp_path / "two", teacher, train_set)
    for name in ("logits.f16", "digests.u64"):
        assert (whole.folder / name).read_bytes() == (sharded.folder / name).read_bytes()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    (sharded.folder / "done" / "3").unlink()  # as if interrupted while writing chunk 3
    logits = np.memmap(sharded.folder / "logits.f16", dtype="<f2", mode="r+", shape=(40, 3, 10))
    logits[24:32] = 0
    logits.flush()
    build(tmp_path / "two", teacher, train_set)
    assert (whole.folder / "logits.f16").read_bytes() == (sharded.folder / "logits.f16").read_bytes()


def test_topk_keeps_the_top_logits_and_the_rest_of_the_mass():
    logits = np.random.default_rng(0).normal(0, 3, (6, 2, 10)).astype(np.float32)
    values, index, rest = compress_topk(logits, 3)
    top = np.sort(logits, axis=-1)[..., ::-1][..., :3]
    assert np.array_equal(values, top)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    rebuilt = np.repeat(rest[..., None], 10, axis=-1)
    np.put_along_axis(rebuilt, index, values, axis=-1)
    rebuilt_probs = np.exp(rebuilt) / np.exp(rebuilt).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        np.take_along_axis(rebuilt_probs, index, -1), np.take_along_axis(probs, index, -1), rtol=1e-5
    )
    mass_outside = 1 - np.take_along_axis(probs, index, -1).sum(-1)
    np.testing.assert_allclose(1 - np.take_along_axis(rebuilt_probs, index, -1).sum(-1), mass_outside, rtol=1e-5)


def test_topk_cache_reads_back_a_full_row_per_view(teacher, train_set, tmp_path):
    reader = build(tmp_path, teacher, train_set, views=2, topk=4).reader()
    replay = AugmentedViews(train_set.images, train_set.labels, build_train_transform("phone", SIZE), seed=0)
    images = torch.stack([replay.render(i, 1) for i in range(5)])
    logits = reader.logits(torch.arange(5), 1, images)
    assert logits.shape == (5, 10)
    assert (logits.sort(1, descending=True).values[:, 4:].std(1) < 1e-6).all()  # the rest share one value


def test_cached_training_reads_the_live_teachers_answers(teacher, train_set, tmp_path):
    """The trainer with a cache computes, step for step, the loss it computes with the live teacher:
    same views in the same order, and the answers for them (to fp16 rounding). The learning rate is 0
    so both runs stay at the same weights and every epoch's loss is comparable; the optimiser otherwise
    magnifies fp16-sized differences in near-zero gradients into different trajectories."""
    model, info = teacher
    reader = build(tmp_path, teacher, train_set, views=2).reader()
    settings = StageSettings(epochs=2, batch_size=10, lr=0.0, weight_decay=0.0, seed=0, workers=0)
    histories = []
    for cache in (None, reader):
        torch.manual_seed(0)
        student = create_model("lcnet_050", len(demo_data.CLASSES))
        views = AugmentedViews(train_set.images, train_set.labels, build_train_transform("phone", SIZE), seed=0)
        student_info = model_info(student, "lcnet_050", list(demo_data.CLASSES), SIZE)
        teacher_of_run = Teacher(model, info, DistillationLoss(4.0, 0.9), cache)
        histories.append(
            fit("s", student, student_info, views, settings, tmp_path / f"{cache is None}.pt", teacher_of_run)
        )
    live, cached = ([epoch["loss"] for epoch in history] for history in histories)
    assert cached == pytest.approx(live, rel=1e-4)
    assert abs(live[0] - live[1]) > 1e-3  # the two epochs saw different views: the comparison can tell
