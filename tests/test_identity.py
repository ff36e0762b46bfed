"""A run's identity decides what resumes and what starts over (tide/identity.py, issue 11).

Training level: an edited parameter, seed or input sets the old state aside and trains
from step 0 (weights equal to a fresh run's, different from the old ones); a kill and retry
with nothing changed resumes bitwise. Snakemake level: the training rules' rerun trigger
holds seed and block size; dry runs write nothing under results/.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from test_train_objective import BLOCK, S_MASK, VSH, _collate, _rows, _run, _student
from tide import identity
from tide.config import load_config, validate_dict
from tide.distill.objective import DistillContext, distill_loss
from tide.models.build import build_dense
from tide.models.teachers import Teacher
from tide.train import TrainSettings, train

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
V_T, T_MASK = 60, 59
T_DIMS = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=64)


def _pointer(tmp_path, teacher_seed: int) -> Path:
    """A teacher 'pointer' as an upstream stage writes it; the teacher is built from it."""
    p = tmp_path / "models" / "teacher_B.json"
    (tmp_path / "models" / "teacher_B").mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"path": str(tmp_path / "models" / "teacher_B"), "seed": teacher_seed}))
    return p


def _distill(state: Path, pointer: Path, *, l_max=0.9, seed=5, stop_after=None):
    """A tiny TIDAL run keyed like tide.stages.distill: spec + input ids (+ settings)."""
    run = dataclasses.replace(_run("tidal", compdemo=True), l_max=l_max)
    teacher_seed = json.loads(pointer.read_text())["seed"]
    teacher = Teacher(build_dense(V_T, T_DIMS, max_positions=128, seed=teacher_seed), "bd3lm",
                      T_MASK, block_size=BLOCK)
    student = _student()
    ctx = DistillContext(student, teacher, run, S_MASK, VSH, BLOCK)
    ident = identity.Identity({"spec": run.as_dict(),
                               "inputs": identity.inputs_id({"teacher": pointer})})
    settings = TrainSettings(steps=6, lr=1e-3, batch_size=3, seed=seed, checkpoint_every=2)
    summary = train(student, _rows(), _collate("B"), lambda m, b, p, g: distill_loss(ctx, b, p, g),
                    settings, state_dir=state, log_path=state / "metrics.jsonl",
                    stop_after=stop_after, identity=ident)
    return student, summary


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _stale(state: Path) -> list[dict]:
    where = identity.stale_root(state)
    return [json.loads((d / identity.SET_ASIDE_FILE).read_text())
            for d in sorted(where.iterdir())] if where.is_dir() else []


def _finished_then_changed(tmp_path, **change):
    """Train to the end, then re-run with one thing changed (the issue's scenario)."""
    state = tmp_path / "state" / "runs" / "B_x"
    old, _ = _distill(state, _pointer(tmp_path, 1))
    pointer = _pointer(tmp_path, change.pop("teacher_seed", 1))
    new, summary = _distill(state, pointer, **change)
    fresh, _ = _distill(tmp_path / "fresh" / "runs" / "B_x", pointer, **change)
    return state, old, new, summary, fresh


def test_edited_ablation_parameter_trains_from_step_0(tmp_path):
    state, old, new, summary, fresh = _finished_then_changed(tmp_path, l_max=0.5)
    assert summary["resumed_from"] == 0 and summary["steps"] == 6
    assert _equal(new, fresh) and not _equal(new, old)
    (aside,) = _stale(state)
    assert "spec.l_max: 0.9 -> 0.5" in aside["reason"]
    lines = [json.loads(x) for x in (state / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 7))  # the old run's log went with it


def test_edited_seed_trains_from_step_0(tmp_path):
    state, old, new, summary, fresh = _finished_then_changed(tmp_path, seed=6)
    assert summary["resumed_from"] == 0
    assert _equal(new, fresh) and not _equal(new, old)
    assert "train.seed: 5 -> 6" in _stale(state)[0]["reason"]


def test_changed_input_pointer_trains_from_step_0(tmp_path):
    state, old, new, summary, fresh = _finished_then_changed(tmp_path, teacher_seed=2)
    assert summary["resumed_from"] == 0
    assert _equal(new, fresh) and not _equal(new, old)
    assert "inputs.teacher" in _stale(state)[0]["reason"]


def test_kill_and_retry_unchanged_resumes_bitwise(tmp_path):
    pointer = _pointer(tmp_path, 1)
    ref, _ = _distill(tmp_path / "ref", pointer)
    _, first = _distill(tmp_path / "run", pointer, stop_after=3)
    resumed, summary = _distill(tmp_path / "run", pointer)
    assert first["stopped"] == "stop_after" and summary["resumed_from"] == 3
    assert _equal(ref, resumed)
    assert not identity.stale_root(tmp_path / "run").exists()


def test_state_without_identity_is_set_aside_and_old_ones_pruned(tmp_path):
    state = tmp_path / "state" / "runs" / "B_kl"
    state.mkdir(parents=True)
    (state / "checkpoint.pt").write_text("written before identities")
    assert identity.claim_state(state, identity.Identity({"v": 0}), keep=2) is False
    assert "no identity recorded" in _stale(state)[0]["reason"]
    assert not (state / "checkpoint.pt").exists()
    for v in range(1, 5):  # four more changes: only the newest two set-aside states stay
        (state / "checkpoint.pt").write_text(str(v))
        assert identity.claim_state(state, identity.Identity({"v": v}), keep=2) is False
    kept = _stale(state)
    assert sorted(r["old_identity"] for r in kept) == sorted(identity.digest({"v": v})
                                                             for v in (2, 3))
    assert identity.claim_state(state, identity.Identity({"v": 4})) is True  # same: resume
    # another run's set-aside states are not counted against this one
    other = state.parent / "B_kl_long"
    other.mkdir()
    (other / "x").write_text("1")
    identity.claim_state(other, identity.Identity({"v": 9}), keep=2)
    assert len(_stale(state)) == 3


def test_dataset_fingerprint_follows_content_not_caches(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "data-00000-of-00001.arrow").write_bytes(b"rows")
    (d / "state.json").write_text("{}")
    before = identity.input_id(d)
    (d / "cache-123.arrow").write_bytes(b"cache")  # datasets writes these beside the data
    assert identity.input_id(d) == before
    (d / "data-00000-of-00001.arrow").write_bytes(b"rowz")
    assert identity.input_id(d) != before
    assert identity.input_id("org/model", "abc123") == "hub:org/model@abc123"


def _cfg(**edit):
    raw = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    for path, value in edit.items():
        node = raw
        *parents, leaf = path.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return validate_dict(raw, "tiny.yaml")


def test_rerun_trigger_holds_seed_block_size_and_the_run_spec():
    base = _cfg()
    rules = [("distill", "B_growth_linear"), ("train_teacher", "teacher_B"),
             ("sft_student", "bd3lm"), ("train_ar", "ar")]
    for edit in ({"seed": 43}, {"block_size": 16}):
        for rule, name in rules:
            assert identity.plan_json(_cfg(**edit), rule, name) != identity.plan_json(base, rule, name)
    ablation = _cfg(distill__ablations__B__growth_linear__l_max=0.5)
    assert identity.plan_json(ablation, "distill", "B_growth_linear") != \
        identity.plan_json(base, "distill", "B_growth_linear")
    for other in ("B_tide_shared", "B_compdemo_off", "A_calm"):  # only that ablation re-runs
        assert identity.plan_json(ablation, "distill", other) == identity.plan_json(base, "distill", other)
    # evaluation settings, the checkpoint cadence, the held-out subset (read only by the
    # SFT and teacher stages) are not part of a distillation result
    for edit in ({"eval__limit": 7}, {"distill__defaults__checkpoint_every": 5},
                 {"data__heldout_examples": 12}):
        assert identity.plan_json(_cfg(**edit), "distill", "B_kl") == identity.plan_json(base, "distill", "B_kl")


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    env.pop("TIDE_RESOLVED_CONFIG", None)
    return subprocess.run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "-d",
                           str(workdir), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _tree(root: Path) -> dict:
    """Every file/link under root: bytes (or link target) and mtime."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = ("link", os.readlink(p), p.lstat().st_mtime_ns)
        elif p.is_file():
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def test_dry_runs_write_nothing_and_never_touch_what_jobs_read(tmp_path):
    """A real (cheap) job, then a dry run with another config: the config the workflow's jobs
    read is content-addressed and untouched, and the dry run adds nothing under results/."""
    dry = _snakemake(tmp_path, "-n", "-p", "corpus", "--configfile", str(REPO / "config" / "tiny.yaml"))
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert not (tmp_path / "results").exists()  # a dry run writes nothing under results/
    tiny_text = yaml.safe_dump(load_config(REPO / "config" / "tiny.yaml").raw, sort_keys=True)
    tiny_cfg = tmp_path / "results" / "config" / Path(identity_resolved(tiny_text)).name
    assert f"--config {identity_resolved(tiny_text)} corpus" in dry.stdout

    real = _snakemake(tmp_path, "-j", "1", "results/data/eval/mmlu", "--configfile",
                      str(REPO / "config" / "tiny.yaml"))
    assert real.returncode == 0, (real.stdout + real.stderr)[-3000:]
    assert tiny_cfg.read_text() == tiny_text
    link = tmp_path / "results" / "config.resolved.yaml"
    assert link.is_symlink() and link.resolve() == tiny_cfg.resolve()
    before = _tree(tmp_path / "results")

    other = _snakemake(tmp_path, "-n", "-p", "all", "--configfile", str(REPO / "config" / "paper.yaml"))
    assert other.returncode == 0, other.stderr[-3000:]
    assert "tide --config results/config/" in other.stdout
    assert str(tiny_cfg.relative_to(tmp_path)) not in other.stdout  # its own, other file
    assert _tree(tmp_path / "results") == before


def identity_resolved(text: str) -> str:
    from tide.resolved import resolved_config

    return resolved_config(text)


@pytest.mark.slow
def test_snakemake_reruns_a_training_rule_on_a_seed_edit_from_step_0(tmp_path):
    """End to end on the cheapest training rule (the AR model, shrunk): an unchanged config
    re-runs nothing; an edited seed re-runs train_ar (and nothing upstream), which sets the
    old state aside and trains from step 0 into different weights."""
    raw = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    raw["data"]["tiny"].update(n_train=300, n_heldout=16)
    raw["models"]["ar"]["train"].update(steps=6, batch_size=4)
    c1, c2 = tmp_path / "c1.yaml", tmp_path / "c2.yaml"
    c1.write_text(yaml.safe_dump(raw))
    c2.write_text(yaml.safe_dump({**raw, "seed": raw["seed"] + 1}))
    w = tmp_path / "w"
    res = _snakemake(w, "-j", "1", "results/models/ar.json", "--configfile", str(c1))
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    r = w / "results"
    first = json.loads((r / "models" / "ar.json").read_text())
    assert first["train"]["identity"] == json.loads(
        (r / "state" / "models" / "ar" / "identity.json").read_text())["identity"]
    weights = (r / "models" / "ar" / "model.safetensors").read_bytes()

    same = _snakemake(w, "-n", "results/models/ar.json", "--configfile", str(c1))
    assert "Nothing to be done" in same.stdout + same.stderr
    edited = _snakemake(w, "-n", "results/models/ar.json", "--configfile", str(c2))
    out = edited.stdout + edited.stderr
    assert "rule train_ar" in out and "params have changed" in out
    assert "rule corpus" not in out and "rule dataset" not in out

    res = _snakemake(w, "-j", "1", "results/models/ar.json", "--configfile", str(c2))
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    second = json.loads((r / "models" / "ar.json").read_text())
    assert second["train"]["resumed_from"] == 0 and second["train"]["steps"] == 6
    assert second["train"]["identity"] != first["train"]["identity"]
    assert (r / "models" / "ar" / "model.safetensors").read_bytes() != weights
    (aside,) = list((r / "state" / "stale" / "models").iterdir())
    assert aside.name.startswith(f"ar-{first['train']['identity']}-")
    assert "seed: 42 -> 43" in json.loads((aside / "set_aside.json").read_text())["reason"]
    assert "set aside" in (r / "logs" / "train_ar" / "ar.log").read_text()


def test_stage_identity_follows_its_inputs_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = _cfg()
    r = tmp_path / "results"
    for f, text in (("data/tokenizers/tokenizers.json", "{}"),
                    ("models/bd3lm.json", '{"path": "dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1"}'),
                    ("models/teacher_B.json", '{"path": "results/models/teacher_B", "step": 1}'),
                    ("data/B/train/data-00000-of-00001.arrow", "rows")):
        (r / f).parent.mkdir(parents=True, exist_ok=True)
        (r / f).write_text(text)
    before = identity.of_stage(cfg, "distill", "B_kl", r)
    assert before.parts["inputs"]["student"].endswith(
        "+hub:dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1@unresolved")  # not in the hub cache
    ref = tmp_path / "hub" / "models--dllm-hub--Qwen3-0.6B-diffusion-bd3lm-v0.1" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("0123abcd\n")  # the cached commit pins the revision
    assert identity.of_stage(cfg, "distill", "B_kl", r).parts["inputs"]["student"].endswith("@0123abcd")
    before = identity.of_stage(cfg, "distill", "B_kl", r)
    assert identity.of_stage(cfg, "distill", "B_kl", r).key == before.key  # stable
    (r / "models" / "teacher_B.json").write_text('{"path": "results/models/teacher_B", "step": 2}')
    assert identity.of_stage(cfg, "distill", "B_kl", r).key != before.key
    (r / "data" / "B" / "train" / "data-00000-of-00001.arrow").unlink()
    (r / "data" / "B" / "train").rmdir()
    with pytest.raises(FileNotFoundError, match="data/B/train"):
        identity.of_stage(cfg, "distill", "B_kl", r)


def test_stage_identity_reads_only_what_the_dag_has_built_by_then(tmp_path):
    """Every input a training stage fingerprints is a declared input of its rule (or, for
    the tokenizer summary, upstream of all of them), so it exists when the job runs."""
    import re

    res = _snakemake(tmp_path, "-n", "all", "--configfile", str(REPO / "config" / "tiny.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    tiny = load_config(REPO / "config" / "tiny.yaml")
    names = {"train_ar": lambda o: "ar", "sft_student": lambda o: "bd3lm",
             "train_teacher": lambda o: Path(o).stem,
             "distill": lambda o: "_".join(Path(o).parent.parts[-2:])}
    seen = set()
    for rule, inputs, output in re.findall(r"rule (\w+):\n\s+input: (.*)\n\s+output: (.*)\n", res.stdout):
        if rule in names:
            declared = set(inputs.split(", "))
            name = names[rule](output)
            from_ar = rule == "train_teacher" and tiny.tree.models.teachers[name[-1]].from_ar
            want = identity.stage_inputs(rule, name, "results", from_ar=from_ar)
            if from_ar:  # the tiny default's teacher B starts from the AR model
                assert "ar" in want, name
            assert {str(p) for k, p in want.items() if k != "tokenizers"} <= declared, (rule, output)
            seen.add(rule)
    assert seen == set(identity.TRAINING_RULES)
    assert "results/data/tokenizers/tokenizers.json" in res.stdout  # built before every dataset
