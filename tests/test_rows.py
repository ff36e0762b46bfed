"""Training rows are read lazily from the arrow dataset (issue 12 item 5)."""

from __future__ import annotations

import datasets
import pytest

from tide import paths, stages
from tide.data.rows import Rows


@pytest.fixture
def saved(tmp_path):
    rows = [{"input_ids": list(range(i, i + 3 + i % 2)), "labels": [-100, i, i + 1] + [7] * (i % 2),
             "prompt_len": 1} for i in range(11)]
    datasets.Dataset.from_list(rows).save_to_disk(str(paths.dataset("B", "train", tmp_path)))
    return tmp_path, rows


def test_rows_are_a_lazy_view_with_the_same_rows(saved):
    root, want = saved
    rows = stages._rows("B", "train", root)
    assert not isinstance(rows, list) and isinstance(rows, Rows)
    assert len(rows) == len(want)
    assert [rows[i] for i in range(len(rows))] == want  # what train() reads, by index
    assert list(rows) == want and rows[-1] == want[-1]
    assert list(rows[2:5]) == want[2:5] and len(rows[:100]) == len(want)
    with pytest.raises(IndexError):
        rows[11]


def test_training_reads_the_same_batches_as_from_a_list(saved, tmp_path):
    import torch

    from tide.train import TrainSettings, train

    root, want = saved
    seen = {"lazy": [], "list": []}

    def run(rows, key):
        model = torch.nn.Linear(1, 1)

        def collate(batch):
            seen[key].append([r["input_ids"] for r in batch])
            return torch.ones(len(batch), 1, device="cpu")

        train(model, rows, collate, lambda m, b, p, g: (m(b).sum(), {}),
              TrainSettings(steps=4, lr=1e-3, batch_size=3), state_dir=tmp_path / key,
              log_path=tmp_path / f"{key}.jsonl")

    run(stages._rows("B", "train", root), "lazy")
    run(want, "list")
    assert seen["lazy"] == seen["list"]


def test_models_load_straight_onto_their_device():
    """Issue 12 item 5: on a GPU, transformers places each tensor from the memory-mapped
    checkpoint on the device (device_map) instead of a full host copy per rank first."""
    from tide.models.build import placement

    assert placement("cuda:3") == {"device_map": {"": "cuda:3"}}
    assert placement("cpu") == {}


def test_a_teacher_loaded_for_another_device_is_built_there(tmp_path):
    from tide.models.build import build_dense, load_teacher

    dims = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=32)
    build_dense(40, dims).save_pretrained(tmp_path / "t")
    teacher = load_teacher(str(tmp_path / "t"), kind="bidirectional", mask_token_id=39,
                           device="meta")  # meta: placed without reading a weight
    assert {p.device.type for p in teacher.model.parameters()} == {"meta"}
