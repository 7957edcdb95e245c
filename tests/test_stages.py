"""The stage plan: which students a config trains, each named once for the run, report and export."""

from edgedistill.config import TrainConfig
from edgedistill.export.source import RUN_STUDENT, RUN_TEACHER
from edgedistill.report import ROWS
from edgedistill.stages import ALONE, ALONE_CLEAN, DISTILLED, DISTILLED_CLEAN, DISTILLED_LABELED_ONLY, TEACHER, plan


def names(unlabeled: bool = False, **settings) -> list[str]:
    return [stage.name for stage in plan(TrainConfig(out="run", **settings), unlabeled)]


def test_plan_follows_the_config():
    assert names() == [ALONE.name, DISTILLED.name, DISTILLED_CLEAN.name]
    assert names(alone_on_clean=True) == [ALONE.name, DISTILLED.name, ALONE_CLEAN.name, DISTILLED_CLEAN.name]
    assert names(domain="clean", alone_on_clean=True) == [ALONE.name, DISTILLED.name]  # clean views twice is once
    assert names(unlabeled=True)[-1] == DISTILLED_LABELED_ONLY.name


def test_stages_say_what_they_learn_from_and_on_which_views():
    cfg = TrainConfig(out="run", domain="phone")
    domains = {stage.name: stage.domain(cfg) for stage in plan(cfg, unlabeled=True)}
    assert domains == {ALONE.name: "phone", DISTILLED.name: "phone", DISTILLED_CLEAN.name: "clean",
                       DISTILLED_LABELED_ONLY.name: "phone"}  # fmt: skip
    assert [s.distilled for s in (ALONE, ALONE_CLEAN, DISTILLED, DISTILLED_CLEAN, DISTILLED_LABELED_ONLY)] == [
        False, False, True, True, True,
    ]  # fmt: skip
    assert DISTILLED.unlabeled and not DISTILLED_LABELED_ONLY.unlabeled


def test_report_and_export_use_the_stage_names():
    every = [TEACHER, ALONE, ALONE_CLEAN, DISTILLED, DISTILLED_CLEAN, DISTILLED_LABELED_ONLY]
    assert len({stage.name for stage in every}) == len({stage.label for stage in every}) == len(every)
    assert set(ROWS) == {stage.name for stage in every} and list(ROWS)[-1] == DISTILLED.name
    assert (RUN_STUDENT, RUN_TEACHER) == (f"{DISTILLED.name}.safetensors", f"{TEACHER.name}.safetensors")
