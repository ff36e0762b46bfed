"""Device discipline: every tensor the package creates lands on the device of the data it
meets (issue 12 item 2).

On a GPU, a ``torch.arange(n)`` made on the CPU and indexed with a CUDA boolean mask raises
("indices should be either on cpu or on the same device as the indexed tensor"): every
pipeline-B run and every pipeline-A TIDAL run crashed at step 1. On the CPU every tensor is
on the CPU and the ``meta`` device mixes with CPU indices, so neither catches it; the
:class:`tide.device_guard.ExplicitDevice` guard does: it fails on any tensor factory called
from the package without an explicit ``device=``.
"""

from __future__ import annotations

import pytest
import torch
from test_sampler import chat_prompt, make_student, make_tokenizer
from test_train_objective import BLOCK, S_MASK, VSH, _collate, _rows, _run, _student, _teacher

from tide import distributed
from tide.device_guard import ExplicitDevice, ImplicitDeviceError
from tide.distill.noise import diffusion_loss, student_forward
from tide.distill.objective import OBJECTIVES, DistillContext, distill_loss
from tide.sample import CACHE_MODES, SamplerSettings, generate


def test_the_guard_catches_a_device_less_factory_in_the_package():
    """The objective's old index tensor, ``torch.arange(B)``, is refused; with device= it
    passes; third-party callers are not checked unless asked."""
    from tide.distill import objective

    masked = torch.zeros(2, 3, dtype=torch.bool)
    with ExplicitDevice() as guard:
        torch.arange(3)  # this test file is not the package: allowed
        with pytest.raises(ImplicitDeviceError, match="torch.arange called without device="):
            exec(compile("torch.arange(2)", objective.__file__, "exec"), {"torch": torch})
        objective._token_term.__globals__["torch"].arange(2, device=masked.device)
    with ExplicitDevice(everywhere=True), pytest.raises(ImplicitDeviceError):
        torch.zeros(2)
    assert guard.calls  # it looked


@pytest.mark.parametrize("objective", sorted(OBJECTIVES) + ["sft"])
@pytest.mark.parametrize("compdemo,scored", [(False, False), (True, False), (True, True)])
def test_a_whole_distillation_step_names_every_device(objective, compdemo, scored):
    """Collate, loss (student, teacher, CompDemo split and merge, every objective's term,
    the teacher's LM head at scored positions) and backward, under the guard."""
    if objective == "sft" and compdemo:
        pytest.skip("SFT has no teacher")
    student = _student()
    pipeline = "B" if objective == "sft" else _run(objective).pipeline
    gen = torch.Generator().manual_seed(0)
    with ExplicitDevice() as guard:
        batch = _collate(pipeline)(_rows(3))
        if objective == "sft":
            loss, _ = diffusion_loss(student_forward(BLOCK), S_MASK)(student, batch, None, gen)
        else:
            ctx = DistillContext(student, _teacher(pipeline), _run(objective, compdemo), S_MASK,
                                 VSH if pipeline == "B" else None, BLOCK,
                                 teacher_scored_only=scored)
            loss, _ = distill_loss(ctx, batch, 0.3, gen)
        loss.backward()
    assert torch.isfinite(loss) and guard.calls


@pytest.mark.parametrize("cache", CACHE_MODES)
@pytest.mark.parametrize("threshold", [None, 0.6])
def test_the_sampler_names_every_device(cache, threshold):
    tok = make_tokenizer()
    model = make_student(tok, block_size=8)
    prompts = [chat_prompt(tok, "Hi"), chat_prompt(tok, "What is the capital of France?")]
    settings = SamplerSettings(max_new_tokens=12, steps=6, block_size=8, cache=cache,
                               threshold=threshold, temperature=0.5)
    with ExplicitDevice() as guard:
        out = generate(model, prompts, settings, mask_id=tok.convert_tokens_to_ids("<|mask|>"),
                       pad_id=tok.pad_token_id, eos_ids={tok.eos_token_id},
                       generator=torch.Generator().manual_seed(0))
    assert len(out) == 2 and guard.calls


def test_collectives_and_checkpoints_name_every_device(tmp_path):
    """Single-process paths of the collectives, and a checkpoint written and resumed."""
    from tide.train import TrainSettings, train

    info = distributed.DistInfo()
    model = torch.nn.Linear(3, 1)
    rows = [{"x": torch.ones(3, device="cpu")} for _ in range(4)]

    def loss_fn(m, b, p, g):
        loss = m(b).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    settings = TrainSettings(steps=2, lr=1e-2, batch_size=2, checkpoint_every=1)
    with ExplicitDevice():
        assert distributed.any_flag(info, True) is True
        assert distributed.mean_scalars(info, {"a": 1.0}) == {"a": 1.0}
        train(model, rows, lambda r: torch.stack([x["x"] for x in r]), loss_fn, settings,
              state_dir=tmp_path / "s", log_path=tmp_path / "m.jsonl", stop_after=1)
        train(model, rows, lambda r: torch.stack([x["x"] for x in r]), loss_fn, settings,
              state_dir=tmp_path / "s", log_path=tmp_path / "m.jsonl")


def test_bench_raises_device_bugs_instead_of_dropping_the_row():
    """On a GPU the bench recorded the step's device error as "not measured" and dropped
    every whole-step row; a device bug must stop the bench, an out-of-memory is recorded."""
    from tide.bench.distill import _failure

    bug = RuntimeError("indices should be either on cpu or on the same device as the "
                       "indexed tensor (cpu)")
    with pytest.raises(RuntimeError, match="indices should be"):
        _failure("step_B_tidal", bug)
    with pytest.raises(ImplicitDeviceError):
        _failure("step_B_tidal", ImplicitDeviceError("torch.arange called without device= at x"))
    oom = RuntimeError("CUDA out of memory. Tried to allocate 42.00 GiB")
    assert _failure("step_B_tidal", oom).startswith("step_B_tidal: RuntimeError: CUDA out of memory")


_SAVED_ON_GPU = {"on": False, "restored_to": []}


def _tag_as_gpu0(storage):
    """Storage tagger while the flag is on: the location a GPU rank 0 writes ("cuda:0" in
    the real case; a name of our own here, so CPU torch can read it back)."""
    return "fakegpu:0" if _SAVED_ON_GPU["on"] and storage.device.type == "cpu" else None


def _restore_fakegpu(storage, location):
    if location.startswith("fakegpu"):
        _SAVED_ON_GPU["restored_to"].append(location)
        return storage
    return None


torch.serialization.register_package(5, _tag_as_gpu0, _restore_fakegpu)


def test_resume_loads_the_checkpoint_to_the_cpu_first(tmp_path):
    """A checkpoint written by rank 0 on cuda:0, resumed by a rank that sees every GPU: without
    map_location every tensor is restored onto the saved device (GPU 0 for all ranks)."""
    from tide.train import TrainSettings, train

    rows = [{"x": torch.ones(3, device="cpu")} for _ in range(4)]

    def loss_fn(m, b, p, g):
        loss = m(b).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    def run(stop_after=None):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        train(model, rows, lambda r: torch.stack([x["x"] for x in r]), loss_fn,
              TrainSettings(steps=3, lr=1e-2, batch_size=2, checkpoint_every=10),
              state_dir=tmp_path / "s", log_path=tmp_path / "m.jsonl", stop_after=stop_after)
        return model

    _SAVED_ON_GPU["on"] = True
    try:
        run(stop_after=1)  # the checkpoint's storages carry the "GPU 0" location
    finally:
        _SAVED_ON_GPU["on"] = False
    _SAVED_ON_GPU["restored_to"].clear()
    resumed = run()
    assert _SAVED_ON_GPU["restored_to"] == []  # nothing was restored onto "GPU 0"
    assert next(resumed.parameters()).device.type == "cpu"


def test_sampler_noise_comes_from_the_generator_on_its_own_device():
    """The evaluation seeds a CPU generator; on a GPU ``torch.rand(device=cuda,
    generator=cpu_generator)`` raises. The draw happens on the generator's device (same
    numbers on any device) and lands on the logits' device."""
    from tide.sample import _uniform

    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out = _uniform((2, 5), torch.device("meta"), g1, torch.float64)
    assert out.device.type == "meta" and out.dtype == torch.float64
    torch.rand((2, 5), dtype=torch.float64, generator=g2, device="cpu")  # what meta consumed
    assert torch.equal(_uniform((2, 5), torch.device("cpu"), g1, torch.float64),
                       torch.rand((2, 5), dtype=torch.float64, generator=g2, device="cpu"))
