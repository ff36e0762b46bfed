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


# ------------------------------------------------------------- a teacher from the AR model


def _fixture_tokenizers():
    from tide.data.tokenizers import load_tokenizer

    tok_dir = REPO / "tests" / "fixtures" / "tokenizers"
    return load_tokenizer(tok_dir / "student"), load_tokenizer(tok_dir / "teacher_b")


def test_dense_from_causal_keeps_the_ar_model_on_every_shared_token():
    """Teacher B started from the AR model: the same function on the shared vocabulary
    (its layers and shared rows are the AR's), its own specials at the mean row."""
    import torch

    from tide.models.build import build_dense, dense_from_causal

    student_tok, teacher_tok = _fixture_tokenizers()
    dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, intermediate_size=64)
    ar = build_dense(len(student_tok), dims, max_positions=64, seed=3)
    teacher = dense_from_causal(ar, student_tok, teacher_tok)
    assert teacher.config.vocab_size == len(teacher_tok) != ar.config.vocab_size
    old, new = ar.get_input_embeddings().weight, teacher.get_input_embeddings().weight
    s_vocab, t_vocab = student_tok.get_vocab(), teacher_tok.get_vocab()
    mean = old[[s_vocab[t] for t in t_vocab if t in s_vocab]].mean(0)  # of the copied rows
    for tok, i in t_vocab.items():
        want = old[s_vocab[tok]] if tok in s_vocab else mean
        torch.testing.assert_close(new[i], want, msg=tok)
    # <think> has another id in each vocabulary: copied by string, not by id
    assert teacher_tok.convert_tokens_to_ids("<think>") != student_tok.convert_tokens_to_ids("<think>")
    mask = teacher_tok.mask_token_id
    assert "<|mask_wedlm|>" not in s_vocab and mask >= len(s_vocab) - 3
    v_sh = min(len(student_tok), len(teacher_tok)) - 4  # ids below the specials: shared
    ids = torch.randint(0, v_sh, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(teacher(input_ids=ids).logits[..., :v_sh],
                                   ar(input_ids=ids).logits[..., :v_sh])
    # bit for bit the same on a second call (the vocabulary's dict order varies per call)
    again = dense_from_causal(ar, student_tok, teacher_tok).state_dict()
    assert all(torch.equal(v, again[k]) for k, v in teacher.state_dict().items())


@pytest.mark.parametrize("change, field", [
    ({"A": {"from_ar": True}}, r"models\.teachers\.A\.from_ar"),
    ({"B": {"dims": {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1,
                     "num_key_value_heads": 1, "intermediate_size": 8}}},
     r"models\.teachers\.B\.dims"),
    ({"B": {"init": "Qwen/Qwen3-8B"}}, r"models\.teachers\.B\.from_ar"),
])
def test_from_ar_is_for_a_trained_pipeline_b_teacher_without_dims(change, field):
    import yaml

    from tide.config import ConfigError, validate_dict

    raw = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    assert raw["models"]["teachers"]["B"]["from_ar"] is True  # the tiny default's teacher B
    for pipe, over in change.items():
        raw["models"]["teachers"][pipe].update(over)
    with pytest.raises(ConfigError, match=field):
        validate_dict(raw, "tiny.yaml")


def test_a_teacher_from_the_ar_model_is_keyed_by_it(tmp_path):
    """Its run identity reads the AR pointer: a retrained AR model sets its state aside."""
    from tide import identity

    assert "ar" in stage_inputs("train_teacher", "teacher_B", "results", from_ar=True)
    assert "ar" not in stage_inputs("train_teacher", "teacher_A", "results")
    cfg = load_config(REPO / "config" / "tiny.yaml")
    for split in ("train", "heldout"):
        d = tmp_path / "data" / "sft_teacher_b" / split
        d.mkdir(parents=True)
        (d / "data-00000-of-00001.arrow").write_text("rows")
    (tmp_path / "data" / "tokenizers").mkdir(parents=True)
    (tmp_path / "data" / "tokenizers" / "tokenizers.json").write_text("{}")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ar.json").write_text('{"path": "results/models/ar", "step": 1}')
    before = identity.of_stage(cfg, "train_teacher", "teacher_B", tmp_path).key
    (tmp_path / "models" / "ar.json").write_text('{"path": "results/models/ar", "step": 2}')
    assert identity.of_stage(cfg, "train_teacher", "teacher_B", tmp_path).key != before
