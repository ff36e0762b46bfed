"""A trained tiny teacher is checked against the SFT student after both exist (rule
check_teacher), so the teachers train beside the AR -> SFT chain instead of after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tide import paths
from tide.config import load_config
from tide.identity import stage_inputs
from tide.stages import check_teacher

REPO = Path(__file__).resolve().parents[1]


def _pointers(root: Path, teacher_bpb: float, student_bpb: float) -> None:
    (root / "models").mkdir(parents=True)
    (root / "models" / "bd3lm.json").write_text(json.dumps({"heldout_bits_per_byte": student_bpb}))
    (root / "models" / "teacher_B.json").write_text(json.dumps(
        {"heldout_bits_per_byte": teacher_bpb, "train": {"steps": 600}}))


def test_a_teacher_within_the_target_is_recorded(tmp_path):
    cfg = load_config(REPO / "config" / "tiny.yaml")
    _pointers(tmp_path, 0.5, 0.8)
    check_teacher(cfg, "B", tmp_path)
    out = json.loads(paths.teacher_check("B", tmp_path).read_text())
    assert out["ratio_to_student"] == pytest.approx(0.625)
    assert out["target_bpb_ratio"] == 0.8 and out["teacher_steps"] == 600


def test_a_teacher_short_of_the_target_fails_naming_the_fields_and_writes_nothing(tmp_path):
    cfg = load_config(REPO / "config" / "tiny.yaml")
    _pointers(tmp_path, 0.7, 0.8)  # 0.875 x the student's > 0.8
    with pytest.raises(RuntimeError, match=r"models\.teachers\.B\.train\.steps.*tiny\.yaml"):
        check_teacher(cfg, "B", tmp_path)
    assert not paths.teacher_check("B", tmp_path).exists()


def test_teacher_training_does_not_read_the_student():
    assert "student" not in stage_inputs("train_teacher", "teacher_B", "results")
