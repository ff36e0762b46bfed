"""The learning-rate schedule and the step count are HF Trainer's (issue 10, item 8).

Checked against the real transformers functions the authors' runs use: the cosine schedule
with warm-up, ``TrainingArguments.get_warmup_steps`` and ``Trainer``'s max_steps from epochs.
"""

from __future__ import annotations

import pytest
import torch
from transformers import Trainer, TrainingArguments, get_cosine_schedule_with_warmup

from tide.train import lr_lambda, steps_from_epochs, warmup_steps


@pytest.mark.parametrize("total", [1, 7, 9, 10, 25, 101])
def test_lr_factor_is_hf_cosine_with_warmup_at_every_step(tmp_path, total):
    args = TrainingArguments(output_dir=str(tmp_path), warmup_steps=0.1, report_to=[],
                             use_cpu=True)
    w = args.get_warmup_steps(total)
    assert warmup_steps(0.1, total) == w  # ⌈0.1 T⌉, not ⌊0.1 T⌋
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    hf = get_cosine_schedule_with_warmup(opt, w, total)
    ours = lr_lambda(w, total)
    for step in range(total):
        assert ours(step) == pytest.approx(hf.get_last_lr()[0], abs=1e-12), step
        opt.step()
        hf.step()


@pytest.mark.parametrize("n,batch,epochs", [(10, 4, 3), (64, 8, 2), (65, 8, 10), (7, 10, 1),
                                            (100, 6, 2.5)])
def test_steps_from_epochs_is_hf_trainer_max_steps(tmp_path, n, batch, epochs):
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=epochs,
                             per_device_train_batch_size=batch, report_to=[], use_cpu=True)
    data = [{"x": torch.tensor([float(i)])} for i in range(n)]
    trainer = Trainer(model=torch.nn.Linear(1, 1), args=args, train_dataset=data)
    max_steps = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[-1]
    assert steps_from_epochs(epochs, n, batch) == max_steps
