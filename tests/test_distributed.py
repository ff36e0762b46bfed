"""Distributed training on CPU (gloo): the rank launcher and DDP in the training loop.

The SLURM path (srun + submitit's rendezvous) runs on the CI cluster in
tests/test_slurm_cluster.py; here two processes meet through the torchrun variables,
the same ``tide.distributed.init`` code path.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest
import torch
import torch.multiprocessing as mp

from tide import launch
from tide.train import TrainSettings, train

# ----------------------------------------------------------------------------- launcher


def test_one_task_runs_in_place():
    argv = launch.command(1, ["--config", "c.yaml", "distill", "--pipeline", "B"], env={})
    assert argv[1:] == ["--config", "c.yaml", "distill", "--pipeline", "B"]
    assert os.path.basename(argv[0]) in ("tide", os.path.basename(sys.argv[0]))


def test_inside_slurm_the_ranks_start_with_one_srun():
    env = {"SLURM_JOB_ID": "17", "SLURM_NTASKS": "2", "SLURM_CPUS_PER_TASK": "3"}
    argv = launch.command(2, ["distill"], env=env)
    assert argv[:4] == ["srun", "--ntasks=2", "--kill-on-bad-exit=1", "--export=ALL"]
    assert "--cpus-per-task=3" in argv and argv[-1] == "distill"


def test_inside_slurm_more_tasks_than_allocated_is_an_error():
    with pytest.raises(RuntimeError, match="holds only 1"):
        launch.command(2, ["distill"], env={"SLURM_JOB_ID": "17", "SLURM_NTASKS": "1"})


def test_outside_slurm_the_ranks_start_with_torchrun():
    argv = launch.command(2, ["distill"], env={})
    assert argv[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


def test_rank_of_env():
    assert launch.rank_of_env({}) == 0
    assert launch.rank_of_env({"SLURM_PROCID": "3"}) == 3
    assert launch.rank_of_env({"RANK": "1", "SLURM_PROCID": "0"}) == 1


# ----------------------------------------------------------------------------- DDP loop

ROWS = [{"x": torch.randn(6, generator=torch.Generator().manual_seed(i))} for i in range(24)]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _collate(rows):
    return torch.stack([r["x"] for r in rows])


def _loss(model, batch, progress, gen):
    noise = torch.randn(batch.shape, generator=gen) * 1e-4  # exercises the per-rank generator
    out = model(batch + noise).squeeze(-1)
    loss = ((out - batch.sum(-1)) ** 2).mean()
    return loss, {"loss": float(loss.detach())}


def _settings(batch_size):
    return TrainSettings(steps=6, lr=1e-2, batch_size=batch_size, seed=3, checkpoint_every=2,
                         warmup_ratio=0.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_dir, stop_after):
    from tide import distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      TORCHELASTIC_RUN_ID="test")
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    model = _model()
    summary = train(model, ROWS, _collate, _loss, _settings(2), state_dir=f"{out_dir}/state",
                    log_path=f"{out_dir}/metrics.jsonl", stop_after=stop_after, dist=info)
    torch.save({"state": model.state_dict(), "summary": summary, "rank": info.rank,
                "world": info.world_size, "source": info.source}, f"{out_dir}/rank{rank}.pt")
    distributed.shutdown(info)


def _run_ddp(out_dir, stop_after=None):
    mp.start_processes(_worker, args=(2, _free_port(), str(out_dir), stop_after), nprocs=2,
                       join=True, start_method="spawn")
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(2)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    return out, _run_ddp(out)


def test_two_ranks_form_one_group_and_end_with_equal_weights(ddp_run):
    _, ranks = ddp_run
    assert [(r["rank"], r["world"], r["source"]) for r in ranks] == [(0, 2, "torchrun"),
                                                                    (1, 2, "torchrun")]
    for name, w in ranks[0]["state"].items():
        assert torch.equal(w, ranks[1]["state"][name]), name


def test_ddp_matches_one_process_with_the_global_batch(ddp_run, tmp_path):
    """Per-rank batch 2 on 2 ranks = batch 4 in one process (grads averaged by DDP), up to
    float reduction order and the per-rank noise (tiny here)."""
    _, ranks = ddp_run
    single = _model()
    train(single, ROWS, _collate, _loss, _settings(4), state_dir=tmp_path / "s",
          log_path=tmp_path / "s.jsonl")
    for name, w in single.state_dict().items():
        assert torch.allclose(w, ranks[0]["state"][name], atol=1e-3), name


def test_only_rank_zero_writes_the_log_and_checkpoint(ddp_run):
    out, _ = ddp_run
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 7))  # one line per step, not two
    ckpt = torch.load(out / "state" / "checkpoint.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and len(ckpt["rank_rng"]) == 2


def test_killed_and_resumed_ddp_run_is_bitwise_equal(ddp_run, tmp_path):
    _, full = ddp_run
    _run_ddp(tmp_path, stop_after=3)  # stops after step 3 with a checkpoint
    resumed = _run_ddp(tmp_path)
    assert resumed[0]["summary"]["resumed_from"] == 3
    for name, w in full[0]["state"].items():
        assert torch.equal(w, resumed[0]["state"][name]), name


# ----------------------------------------------------------------------------- FSDP teacher


def _teacher_worker(rank, world, port, out_dir):
    from tide import distributed
    from tide.models.build import build_dense
    from tide.models.teachers import Teacher

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), TORCHELASTIC_RUN_ID="t")
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=64)
    teacher = Teacher(build_dense(60, dims, seed=1), kind="bd3lm", mask_token_id=59, block_size=4)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(0, 58, (2, 12), generator=gen)
    noised = clean.masked_fill(torch.rand(2, 12, generator=gen) < 0.5, 59)
    replicated = teacher.logits(noised, clean)
    distributed.shard_frozen(teacher.model, info, "cpu")
    sharded = teacher.logits(noised, clean)
    torch.save({"replicated": replicated, "sharded": sharded,
                "local_numel": sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel()
                                   for p in teacher.model.parameters()),
                "full_numel": sum(p.numel() for p in teacher.model.parameters())},
               f"{out_dir}/teacher{rank}.pt")
    distributed.shutdown(info)


def test_fsdp_sharded_teacher_gives_the_replicated_logits(tmp_path):
    mp.start_processes(_teacher_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                       join=True, start_method="spawn")
    for r in range(2):
        out = torch.load(tmp_path / f"teacher{r}.pt")
        assert torch.allclose(out["replicated"], out["sharded"], atol=1e-5)
        assert out["local_numel"] < out["full_numel"]  # each rank holds only its shard


# ----------------------------------------------------------------------------- SLURM rendezvous


def _slurm_worker(rank, world, out_dir):
    """A rank as srun starts it: only SLURM's variables, no MASTER_*/RANK."""
    from tide import distributed

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                "TORCHELASTIC_RUN_ID", "SUBMITIT_EXECUTOR"):
        os.environ.pop(var, None)
    os.environ.update(SLURM_JOB_ID=str(40000 + os.getppid() % 1000), SLURM_STEP_ID="0",
                      SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NODEID="0",
                      SLURM_NTASKS=str(world), SLURM_STEP_NUM_TASKS=str(world),
                      SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="localhost")
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    t = torch.tensor([float(info.rank + 1)])
    torch.distributed.all_reduce(t)
    torch.save({"info": (info.rank, info.world_size, info.source), "sum": float(t)},
               f"{out_dir}/slurm{rank}.pt")
    distributed.shutdown(info)


def test_ranks_started_by_srun_meet_through_submitit(tmp_path):
    mp.start_processes(_slurm_worker, args=(2, str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    outs = [torch.load(tmp_path / f"slurm{r}.pt") for r in range(2)]
    assert [o["info"] for o in outs] == [(0, 2, "slurm"), (1, 2, "slurm")]
    assert all(o["sum"] == 3.0 for o in outs)  # one group: 1 + 2 on both ranks


def test_rank_log_goes_to_this_ranks_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.delenv("RANK", raising=False)
    handler = launch.rank_log_handler(str(tmp_path / "logs" / "run.rank{rank}.log"))
    try:
        assert handler.baseFilename == str(tmp_path / "logs" / "run.rank1.log")
    finally:
        handler.close()


# ----------------------------------------------------------------------------- backend device


def _cuda_only_worker(rank, world, port, out_dir):
    """A gloo group that serves only the cuda device type: the device map NCCL has."""
    from tide import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group(backend="cuda:gloo", rank=rank, world_size=world)
    info = distributed.DistInfo(rank=rank, world_size=world, backend="cuda:gloo", source="torchrun")
    out = {"device": str(distributed.collective_device())}
    for name, call in (("any_flag", lambda: distributed.any_flag(info, rank == 1)),
                       ("mean_scalars", lambda: distributed.mean_scalars(info, {"loss": rank + 1.0}))):
        try:
            out[name] = call()
        except (RuntimeError, AssertionError) as e:  # AssertionError: a CPU-only torch build
            out[name] = f"{type(e).__name__}: {e}"
    torch.save(out, f"{out_dir}/cuda_only{rank}.pt")
    torch.distributed.destroy_process_group()


def test_collectives_use_the_backends_device(tmp_path):
    """NCCL reduces only CUDA tensors: with a CPU tensor every rank raised "No backend type
    associated with device type cpu" at step 1 (issue 12 item 1). A gloo group given only the
    cuda device type reproduces that map on CPU: the collectives must ask for a CUDA tensor
    (and, where CUDA exists, return the right values)."""
    mp.start_processes(_cuda_only_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                       join=True, start_method="spawn")
    for r in range(2):
        out = torch.load(tmp_path / f"cuda_only{r}.pt")
        assert out["device"].startswith("cuda")
        for name in ("any_flag", "mean_scalars"):
            assert "No backend type associated with device type cpu" not in str(out[name]), name
        if torch.cuda.is_available():
            assert out["any_flag"] is True and out["mean_scalars"] == {"loss": 1.5}
        else:
            assert "not compiled with CUDA" in out["any_flag"]  # it asked for a CUDA tensor



# ----------------------------------------------------------------------------- FSDP: MoE teacher


class _Expert(torch.nn.Module):
    def __init__(self, gate_up, down):
        super().__init__()
        self.gate_up = torch.nn.Parameter(gate_up.detach().clone())
        self.down = torch.nn.Parameter(down.detach().clone())


class _ExpertList(torch.nn.Module):
    """Qwen3-MoE's fused experts as an ``nn.ModuleList`` of experts, each run only on the
    tokens routed to it: the layout of LLaDA2's modelling code (and of transformers 4's
    Qwen3-MoE), where the expert list is longer than the decoder's layer list."""

    def __init__(self, fused):
        super().__init__()
        self.act_fn = fused.act_fn
        self.experts = torch.nn.ModuleList(_Expert(fused.gate_up_proj[e], fused.down_proj[e])
                                           for e in range(fused.num_experts))

    def forward(self, hidden_states, top_k_index, top_k_weights):
        out = torch.zeros_like(hidden_states)
        for e, expert in enumerate(self.experts):
            token_idx, slot = torch.where(top_k_index == e)
            if token_idx.numel() == 0:  # no token routed here: this expert does not run
                continue
            gate, up = torch.nn.functional.linear(hidden_states[token_idx], expert.gate_up).chunk(2, -1)
            h = torch.nn.functional.linear(self.act_fn(gate) * up, expert.down)
            out.index_add_(0, token_idx, h * top_k_weights[token_idx, slot, None])
        return out


def _moe_teacher():
    from tide.models.build import build_moe
    from tide.models.teachers import Teacher

    dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=64, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16)
    model = build_moe(60, dims, seed=1)
    for layer in model.model.layers:
        layer.mlp.experts = _ExpertList(layer.mlp.experts)
    return Teacher(model, kind="bidirectional", mask_token_id=59)


def _moe_worker(rank, world, port, out_dir):
    from torch.distributed.fsdp import FSDPModule

    from tide import distributed
    from tide.models.build import build_dense
    from tide.models.teachers import Teacher

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), TORCHELASTIC_RUN_ID="m")
    torch.set_num_threads(1)
    info = distributed.init("cpu")
    out = {}
    # pipeline A: MoE teacher; each rank its own tokens (different experts hit per rank)
    teacher = _moe_teacher()
    gen = torch.Generator().manual_seed(rank)
    clean = torch.randint(0, 58, (1, 6 + 5 * rank), generator=gen)
    noised = clean.masked_fill(torch.rand(clean.shape, generator=gen) < 0.5, 59)
    out["replicated"] = teacher.logits(noised)
    distributed.shard_frozen(teacher.model, info, "cpu")
    out["wrapped"] = sorted(n for n, m in teacher.model.named_modules() if isinstance(m, FSDPModule))
    if out["wrapped"] == ["", "model.layers.0", "model.layers.1"]:  # else: would hang
        out["sharded"] = teacher.logits(noised)
    # pipeline B: CompDemo's shared clean prefix through a sharded root
    dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, intermediate_size=64)
    b = Teacher(build_dense(60, dims, seed=2), kind="bd3lm", mask_token_id=59, block_size=4)
    x0 = torch.randint(0, 58, (2, 8), generator=gen)
    xt = [x0.masked_fill(torch.rand(x0.shape, generator=gen) < 0.5, 59) for _ in range(2)]
    with b.shared_clean(x0):
        out["b_replicated"] = [b.logits(x, x0) for x in xt]
    distributed.shard_frozen(b.model, info, "cpu")
    try:
        with b.shared_clean(x0):
            out["b_sharded"] = [b.logits(x, x0) for x in xt]
    except Exception as exc:  # noqa: BLE001 (recorded for the test's message)
        out["b_sharded"] = f"{type(exc).__name__}: {exc}"
    from tide.distill.scored import lm_head_rows

    at = (xt[0] == 59).nonzero(as_tuple=True)  # the LM head at scored rows, through the root
    with lm_head_rows(b.model, *at, x0.shape[1]), b.shared_clean(x0):
        out["b_scored"] = b.logits(xt[0], x0)[:, 0]
    out["b_scored_want"] = out["b_replicated"][0][at]
    torch.save(out, f"{out_dir}/moe{rank}.pt")
    distributed.shutdown(info)


def test_the_expert_list_stand_in_computes_qwen3_moe():
    from tide.models.build import build_moe

    teacher = _moe_teacher()
    dims = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=64, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16)
    fused = build_moe(60, dims, seed=1)
    ids = torch.randint(0, 60, (2, 9), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(teacher.model(input_ids=ids).logits, fused(input_ids=ids).logits)


def test_fsdp_shards_the_decoder_layers_of_an_moe_teacher(tmp_path):
    """Issue 12 item 6: the longest module list of an MoE teacher is one layer's experts;
    sharding those saves nothing and ranks whose experts get no tokens skip their gathers
    (a hang). The units must be the decoder layers, with the replicated logits, and pipeline
    B's CompDemo prefix must run through the FSDP root."""
    mp.start_processes(_moe_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                       join=True, start_method="spawn")
    for r in range(2):
        out = torch.load(tmp_path / f"moe{r}.pt")
        assert out["wrapped"] == ["", "model.layers.0", "model.layers.1"]
        torch.testing.assert_close(out["sharded"], out["replicated"], atol=1e-5, rtol=1e-5)
        assert not isinstance(out["b_sharded"], str), out["b_sharded"]
        for got, want in zip(out["b_sharded"], out["b_replicated"]):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["b_scored"], out["b_scored_want"], atol=1e-5, rtol=1e-5)


def test_decoder_layers_are_chosen_by_structure_not_length():
    from tide.distributed import decoder_layers

    assert decoder_layers(_moe_teacher().model)[0] == "model.layers"  # _no_split_modules

    class Block(torch.nn.Module):  # a remote-code model without _no_split_modules
        def __init__(self):
            super().__init__()
            self.experts = torch.nn.ModuleList(torch.nn.Linear(2, 2) for _ in range(8))

    class Base(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList(Block() for _ in range(2))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = Base()

        @property
        def base_model(self):
            return self.model

    assert decoder_layers(Model())[0] == "model.layers"
    plain = torch.nn.Module()
    plain.blocks = Base().layers
    assert decoder_layers(plain)[0] == "blocks"  # shallowest list, not the 8 experts
    with pytest.raises(ValueError, match="no layer list to shard"):
        decoder_layers(torch.nn.Linear(2, 2))
