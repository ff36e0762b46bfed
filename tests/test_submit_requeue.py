"""`tide submit`'s jobs checkpoint and requeue on the signal submitit actually sends (USR2).

Runs a small training job through submitit's real machinery (its LocalExecutor: the same
``process_job`` signal handlers as on SLURM, and a controller that restarts a job that asks
for a requeue), sends SIGUSR2 to the running job as SLURM would before the time limit, and
checks: a checkpoint at the step reached, a requeue, a resume at exactly that step, and
weights bitwise equal to an uninterrupted run.
"""

import json
import os
import signal
import time
from pathlib import Path

import torch

from tide.submit import TrainingJob
from tide.train import TrainSettings, train

REPO = Path(__file__).resolve().parents[1]
STEPS = 40


def _train(state: Path, slow_s: float = 0.0):
    """A tiny regression with RNG noise (so the generator's state must resume too)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    rows = [{"x": [float(i), 1.0, -float(i) / 3, 0.5], "y": float(i % 5)} for i in range(12)]

    def collate(batch):
        return {"x": torch.tensor([r["x"] for r in batch]), "y": torch.tensor([r["y"] for r in batch])}

    def loss_fn(m, b, _progress, gen):
        time.sleep(slow_s)  # long enough for the test to signal mid-run
        noise = 0.01 * torch.randn(b["x"].shape, generator=gen)
        loss = ((m(b["x"] + noise).squeeze(-1) - b["y"]) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    settings = TrainSettings(steps=STEPS, lr=1e-2, batch_size=4, seed=3, checkpoint_every=1000)
    summary = train(model, rows, collate, loss_fn, settings, state_dir=state,
                    log_path=state / "metrics.jsonl")
    return model, summary


class TinyTrainJob(TrainingJob):
    """What `tide submit` runs (a TrainingJob), on a tiny model; records every attempt."""

    def __init__(self, state: str):
        self.state = state

    def run(self):
        attempts = Path(self.state).parent / "attempts.jsonl"
        with open(attempts, "a") as f:
            f.write(json.dumps({"pid": os.getpid()}) + "\n")
        model, summary = _train(Path(self.state), slow_s=0.15)
        return {"summary": summary, "weights": {k: v.tolist() for k, v in model.state_dict().items()}}


def _attempts(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_usr2_checkpoints_and_submitit_requeues_and_resumes_bitwise(tmp_path, monkeypatch):
    import submitit  # a dependency (envs/requirements.txt): missing fails, never skips
    ref, _ = _train(tmp_path / "ref")

    # the job process imports this module (cloudpickle pickles the class by reference)
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{REPO / 'tests'}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    executor = submitit.LocalExecutor(folder=str(tmp_path / "submitit"))
    executor.update_parameters(timeout_min=10)  # no timeout signal of its own
    state = tmp_path / "job" / "state"
    state.parent.mkdir()
    job = executor.submit(TinyTrainJob(str(state)))
    log = state / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
        assert not job.done(), job.stderr()
        time.sleep(0.2)
    (first,) = _attempts(tmp_path / "job" / "attempts.jsonl")
    os.kill(first["pid"], signal.SIGUSR2)  # SLURM's --signal=USR2@… as submitit requests it
    out = job.result()  # waits; raises with the job's traceback if it failed

    attempts = _attempts(tmp_path / "job" / "attempts.jsonl")
    assert len(attempts) == 2 and attempts[1]["pid"] != first["pid"]  # requeued: a new process
    logs = (job.stdout() or "") + (job.stderr() or "")
    assert "checkpoint written after a stop signal" in logs and "Requeued job" in logs, logs
    resumed_from = out["summary"]["resumed_from"]
    assert 5 <= resumed_from < STEPS  # resumed where the signal stopped it, not from 0
    assert out["summary"]["steps"] == STEPS
    for k, v in ref.state_dict().items():
        assert torch.equal(torch.tensor(out["weights"][k]), v), k
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, STEPS + 1))


def test_usr2_in_a_plain_training_process_checkpoints_and_exits_124(tmp_path):
    """Outside submitit (no requeue handler to hand over to): checkpoint, exit 124."""
    import subprocess
    import sys

    from tide.train import PREEMPTED_EXIT_CODE

    state = tmp_path / "state"
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'tests'}", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", "from pathlib import Path; import test_submit_requeue as t; "
                             f"t._train(Path({str(state)!r}), slow_s=0.15)"], env=env,
                            stderr=subprocess.PIPE, text=True)
    log = state / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGUSR2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == PREEMPTED_EXIT_CODE, err[-2000:]
    step = torch.load(state / "checkpoint.pt", weights_only=False)["step"]
    assert 3 <= step < STEPS and f"stopping at step {step} after a signal" in err
