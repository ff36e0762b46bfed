"""Golden numbers: the first training losses of every tiny distillation objective.

A refactor must not change a number by accident. Each objective (with and without
CompDemo where it applies) and the plain BD3LM SFT loss train a fixed tiny student for
``STEPS`` steps on fixed rows; the logged ``ce``, ``distill`` and ``loss`` of every step
are compared with ``tests/golden/losses.json``.

An intended change of numbers updates the file in the same commit, and the commit message
says why:

    TIDE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

(the test then rewrites the file and fails, so an update is never silent).
"""

import json
import os
from pathlib import Path

import pytest
import torch
from test_train_objective import BLOCK, S_MASK, VSH, _collate, _rows, _run, _student, _teacher

from tide.distill.noise import diffusion_loss, student_forward
from tide.distill.objective import OBJECTIVES, DistillContext, distill_loss
from tide.train import TrainSettings, train

GOLDEN = Path(__file__).parent / "golden" / "losses.json"
STEPS = 3
# Same torch pin, one thread, CPU: the numbers are reproducible to the last bit; the
# tolerance only absorbs printing/rounding of the JSON file.
RTOL, ATOL = 1e-6, 1e-7

CASES = [(o, c) for o in sorted(OBJECTIVES) for c in (False, True)] + [("sft", False)]


def _case_name(objective, compdemo):
    return objective + ("+compdemo" if compdemo else "")


def _losses(tmp_path, objective, compdemo):
    student = _student()
    if objective == "sft":
        pipeline = "B"

        loss_fn = diffusion_loss(student_forward(BLOCK), S_MASK)  # the student's SFT loss
    else:
        run = _run(objective, compdemo)
        pipeline = run.pipeline
        ctx = DistillContext(student, _teacher(pipeline), run, S_MASK,
                             VSH if pipeline == "B" else None, BLOCK)

        def loss_fn(m, b, p, g):
            return distill_loss(ctx, b, p, g)
    settings = TrainSettings(steps=STEPS, lr=1e-3, batch_size=3, seed=7, checkpoint_every=100)
    log_path = tmp_path / "log.jsonl"
    train(student, _rows(), _collate(pipeline), loss_fn, settings,
          state_dir=tmp_path / "state", log_path=log_path)
    lines = [json.loads(x) for x in log_path.read_text().splitlines()]
    return [{k: line[k] for k in ("ce", "distill", "loss", "grad_norm") if k in line}
            for line in lines]


def test_golden_losses(tmp_path):
    got = {}
    for objective, compdemo in CASES:
        case_dir = tmp_path / _case_name(objective, compdemo)
        got[_case_name(objective, compdemo)] = _losses(case_dir, objective, compdemo)
    if os.environ.get("TIDE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.fail(f"golden values rewritten in {GOLDEN}: review the diff and commit it")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want), "cases differ from the golden file"
    diffs = []
    for case, steps in want.items():
        assert len(got[case]) == len(steps), case
        for i, (w, g) in enumerate(zip(steps, got[case])):
            for key, value in w.items():
                if abs(g[key] - value) > ATOL + RTOL * abs(value):
                    diffs.append(f"{case} step {i + 1} {key}: golden {value!r}, now {g[key]!r}")
    assert not diffs, ("numbers changed (if intended: TIDE_UPDATE_GOLDEN=1, commit the file "
                       "and say why):\n  " + "\n  ".join(diffs))
