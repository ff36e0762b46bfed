"""The rehearsal hub (tide/rehearsal) and hub resolution at pinned revisions (tide/hubcache).

One stand-in hub for config/paper.yaml is built per session (about 40 s) in its own
HF_HOME under tmp; every test loads through the real ``huggingface_hub`` /
``transformers`` / ``datasets`` code with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tide.config import load_config, validate_dict
from tide.hubcache import (
    config_hub_ids,
    dataset_data_files,
    eval_dataset_requests,
    load_hub_dataset,
    refuse_standin,
    resolved_commit,
)

REPO = Path(__file__).resolve().parents[1]
PAPER, OVERLAY = REPO / "config" / "paper.yaml", REPO / "config" / "rehearsal.yaml"
STUDENT = "dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1"

# ------------------------------------------------------------------ the overlay


def merged(base: dict, over: dict) -> dict:
    """Snakemake's merge of several --configfile files (recursive dict update)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def leaf_paths(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else str(k)
        out += leaf_paths(v, p) if isinstance(v, dict) else [p]
    return out


#: what the overlay may change: sizes, steps, document limits, ablation benchmarks, device,
#: dtype, resources (issue 10), and its own name
ALLOWED = ["name", "device", "dtype", "data.max_length", "data.teacher_max_length.*",
           "data.heldout_examples", "models.teachers.*.dtype", "distill.defaults.steps",
           "distill.defaults.batch_size", "distill.defaults.checkpoint_every",
           "distill.runs.*.*.batch_size", "eval.limit", "eval.max_subtasks", "eval.shards",
           "eval.ablation_benchmarks", "resources.*"]

#: fields that must be identical in the paper plan and its rehearsal
IDENTITY_FIELDS = ["revisions", "tokenizers", "shared_vocab_size", "block_size",
                   "attn_implementation", "seed", "data.source", "data.pretokenized",
                   "models.ar.init", "models.student.init", "eval.source", "eval.benchmarks",
                   "eval.seed", "eval.batch_size", "eval.checkpoints"]
TEACHER_FIELDS = ["init", "kind", "mask_token_id", "concat_order", "sharding"]
RUN_FIELDS = ["objective", "temperature", "axis_mode", "weighting", "compdemo", "rho", "l_init",
              "l_max", "schedule", "concat_order", "lr", "warmup_ratio", "weight", "base", "axis",
              "epochs"]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def test_overlay_touches_only_sizes_steps_limits_device_dtype_resources():
    over = yaml.safe_load(OVERLAY.read_text())
    bad = [p for p in leaf_paths(over) if not any(fnmatch.fnmatch(p, a) for a in ALLOWED)]
    assert bad == []


def test_full_rehearsal_overlay_changes_only_device_dtype_resources():
    full = yaml.safe_load((REPO / "config" / "rehearsal_full.yaml").read_text())
    allowed = ["name", "device", "dtype", "models.teachers.*.dtype", "resources.*"]
    assert [p for p in leaf_paths(full) if not any(fnmatch.fnmatch(p, a) for a in allowed)] == []


def test_overlay_keeps_every_id_revision_mask_objective_temperature_and_protocol():
    paper = yaml.safe_load(PAPER.read_text())
    reh = merged(paper, yaml.safe_load(OVERLAY.read_text()))
    for field in IDENTITY_FIELDS:
        assert _get(reh, field) == _get(paper, field), field
    for pipe in ("A", "B"):
        for f in TEACHER_FIELDS:
            assert reh["models"]["teachers"][pipe].get(f) == paper["models"]["teachers"][pipe].get(f)
    p_cfg, r_cfg = validate_dict(paper, str(PAPER)), validate_dict(reh, "paper+rehearsal")
    assert config_hub_ids(r_cfg) == config_hub_ids(p_cfg)
    p_runs = {(r.pipeline, r.name): r.as_dict() for r in p_cfg.runs()}
    r_runs = {(r.pipeline, r.name): r.as_dict() for r in r_cfg.runs()}
    assert r_runs.keys() == p_runs.keys() and len(r_runs) == 6 + 16
    for key, spec in p_runs.items():
        for f in RUN_FIELDS:
            assert r_runs[key].get(f) == spec.get(f), (key, f)
    # the overlay really rehearses something smaller
    assert all(r.steps == 2 for r in r_cfg.runs()) and reh["eval"]["limit"] == 1


def test_every_paper_hub_id_is_listed_under_revisions(tmp_path):
    paper = yaml.safe_load(PAPER.read_text())
    cfg = validate_dict(paper, str(PAPER))
    assert set(config_hub_ids(cfg)) <= set(paper["revisions"])
    assert paper["revisions"]["cais/mmlu"] == "c30699e8356da336a370243923dbaf21066bb9fe"
    del paper["revisions"]["tencent/WeDLM-8B-Instruct"]
    with pytest.raises(Exception, match=r"revisions.*tencent/WeDLM-8B-Instruct"):
        validate_dict(paper, "x.yaml")
    paper["revisions"]["tencent/WeDLM-8B-Instruct"] = "main"  # a branch is not a commit
    with pytest.raises(Exception, match="revisions"):
        validate_dict(paper, "x.yaml")


def test_mmlu_reads_cais_mmlu_not_a_loading_script_repository():
    assert ("cais/mmlu", "all", "test") in eval_dataset_requests(["mmlu"])
    assert not any(i == "hails/mmlu_no_train" for i, _, _ in eval_dataset_requests(
        load_config(PAPER)["eval"]["benchmarks"]))


# ------------------------------------------------------------------ the hub itself


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    from tide.rehearsal.build import build_hub

    out = tmp_path_factory.mktemp("rehearsal_hub")
    record = build_hub(out, PAPER)
    return out, record


@pytest.fixture
def hf_home(hub, monkeypatch):
    """HF_HOME on the stand-in hub for this test (huggingface_hub reads its constants at
    import, so the cache dir is patched where it is read)."""
    import huggingface_hub.constants as C

    out, record = hub
    monkeypatch.setenv("HF_HOME", str(out))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(out / "hub"))
    monkeypatch.setattr(C, "HUGGINGFACE_HUB_CACHE", str(out / "hub"))
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    import transformers.utils.hub as th

    monkeypatch.setattr(th, "TRANSFORMERS_CACHE", str(out / "hub"), raising=False)
    monkeypatch.setenv("TIDE_REHEARSAL", "1")
    return out, record


def test_hub_has_every_id_of_the_paper_config_at_its_revision(hf_home):
    out, record = hf_home
    ids = config_hub_ids(load_config(PAPER))
    assert set(record) == set(ids)
    paper = yaml.safe_load(PAPER.read_text())
    for hub_id, info in record.items():
        base = out / "hub" / f"{info['kind']}s--{hub_id.replace('/', '--')}"
        assert (base / "refs" / "main").read_text() == info["revision"]
        assert (base / "snapshots" / info["revision"]).is_dir()
        if paper["revisions"][hub_id]:
            assert info["revision"] == paper["revisions"][hub_id]
    assert "| source |" in (out / "PROVENANCE.md").read_text()


def test_student_standin_is_the_released_format(hf_home):
    from transformers import AutoTokenizer

    from tide.hubcache import local_dir
    from tide.models.build import load_student

    snap = local_dir(STUDENT)
    cfg = json.loads((snap / "config.json").read_text())
    assert cfg["model_type"] == "a2d-qwen3" and "auto_map" in cfg
    assert "mask_token_id" not in cfg and "block_size" not in cfg
    assert (snap / cfg["auto_map"]["AutoModelForMaskedLM"].split(".")[0]).with_suffix(".py").is_file()
    tok = AutoTokenizer.from_pretrained(STUDENT)
    assert (tok.mask_token_id, tok.eos_token_id, tok.pad_token_id) == (151669, 151645, 151643)
    assert tok.convert_tokens_to_ids(["<think>", "</think>"]) == [151667, 151668]
    model = load_student(STUDENT, tokenizer=tok)
    assert model.config.vocab_size == 151936 and model.config.mask_token_id == 151669


def test_teacher_standins_special_ids_and_shared_vocabulary(hf_home):
    from transformers import AutoTokenizer

    student = AutoTokenizer.from_pretrained(STUDENT)
    wedlm = AutoTokenizer.from_pretrained("tencent/WeDLM-8B-Instruct")
    llada = AutoTokenizer.from_pretrained("inclusionAI/LLaDA2.0-mini")
    assert wedlm.mask_token_id == 151665 and llada.mask_token_id == 156895
    probe = list(range(151600, 151646))
    assert student.convert_ids_to_tokens(probe) == wedlm.convert_ids_to_tokens(probe)
    assert student.convert_ids_to_tokens(151646) != wedlm.convert_ids_to_tokens(151646)
    msgs = [{"role": "user", "content": "Hi"}]
    assert "<think>" not in wedlm.apply_chat_template(msgs, tokenize=False,
                                                      add_generation_prompt=True)
    assert llada.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) \
        .startswith("<role>HUMAN</role>")


def test_llada2_standin_remote_code_fails_like_the_real_one_and_loads_natively(hf_home):
    import torch
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from tide.models.build import load_teacher

    # the repository's own auto_map code, imported as transformers would run it
    with pytest.raises(ImportError, match="is_torch_fx_available"):
        get_class_from_dynamic_module("modeling_llada2_moe.LLaDA2MoeModelLM",
                                      "inclusionAI/LLaDA2.0-mini")
    teacher = load_teacher("inclusionAI/LLaDA2.0-mini", kind="bidirectional",
                           mask_token_id=156895)
    assert teacher.model.config.num_experts > 1
    out = teacher.logits(torch.tensor([[5, 6, 156895, 7]]))
    assert out.shape == (1, 4, 157184) and torch.isfinite(out).all()


def test_pinned_revision_is_the_one_loaded_not_main(hf_home, tmp_path):
    """Move refs/main to a different snapshot: a pinned load keeps the pinned commit."""
    from transformers import AutoConfig

    from tide.hubcache import local_dir

    out, record = hf_home
    hub_id = "Qwen/Qwen3-0.6B"
    pinned = record[hub_id]["revision"]
    base = out / "hub" / "models--Qwen--Qwen3-0.6B"
    decoy = "f" * 40
    shutil.copytree(base / "snapshots" / pinned, base / "snapshots" / decoy)
    cfg_path = base / "snapshots" / decoy / "config.json"
    data = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(data | {"max_position_embeddings": 77}))
    (base / "refs" / "main").write_text(decoy)
    try:
        assert AutoConfig.from_pretrained(hub_id).max_position_embeddings == 77  # main moved
        assert AutoConfig.from_pretrained(hub_id, revision=pinned).max_position_embeddings == 4096
        assert resolved_commit(local_dir(hub_id, pinned)) == pinned
        from tide.stages.common import hub_pointer

        cfg = {"revisions": {hub_id: pinned}}
        assert hub_pointer(cfg, hub_id) == {"path": hub_id, "revision": pinned,
                                            "resolved_commit": pinned}
    finally:
        (base / "refs" / "main").write_text(pinned)
        shutil.rmtree(base / "snapshots" / decoy)


def test_every_eval_dataset_resolves_at_its_revision_with_the_task_columns(hf_home):
    from tide.eval.taskfiles import task_config

    paper = load_config(PAPER)
    revisions = paper["revisions"]
    for hub_id, name, split in eval_dataset_requests(paper["eval"]["benchmarks"]):
        builder, files = dataset_data_files(hub_id, name, split, revisions[hub_id])
        assert builder == "parquet" and files
        ds = load_hub_dataset(hub_id, name, split, revisions[hub_id])
        assert len(ds) > 0, (hub_id, name)
    mmlu = load_hub_dataset("cais/mmlu", "all", "test", revisions["cais/mmlu"])
    assert set(mmlu.column_names) == {"question", "subject", "choices", "answer"}
    assert resolved_commit(dataset_data_files("cais/mmlu", "all", "test",
                                              revisions["cais/mmlu"])[1][0]) \
        == revisions["cais/mmlu"]
    assert task_config("tide_mmlu_generative")["dataset_path"] == "cais/mmlu"


def test_pretokenized_standins_have_the_authors_columns(hf_home):
    from tide.data.build import PIPELINE_COLUMNS
    from tide.data.loaders import load_pretokenized

    for pipe, hub_id in (("A", "TIDE-dllm/distill_llada2_sft"), ("B", "TIDE-dllm/distill_wedlm_sft")):
        ds = load_hub_dataset(hub_id, None, "train")
        assert set(ds.column_names) == set(PIPELINE_COLUMNS[pipe])
    b = load_pretokenized("TIDE-dllm/distill_wedlm_sft", "B", teacher_max_length=128)
    assert len(b) > 0 and max(max(r) for r in b["teacher_input_ids"]) < 151936


def test_a_real_run_refuses_standins(hf_home, monkeypatch):
    from tide.models.build import load_student

    monkeypatch.delenv("TIDE_REHEARSAL")
    with pytest.raises(RuntimeError, match=rf"{STUDENT}.*rehearsal stand-in"):
        load_student(STUDENT)
    with pytest.raises(RuntimeError, match="openai/gsm8k.*rehearsal stand-in"):
        refuse_standin("openai/gsm8k", repo_type="dataset")


# ------------------------------------------------------------------ bad input


def _copy_repo(out: Path, hub_id: str, new_id: str, edit) -> None:
    """A variant of a stand-in under a new id, with ``edit(snapshot_dir)`` applied."""
    src = out / "hub" / f"models--{hub_id.replace('/', '--')}"
    dst = out / "hub" / f"models--{new_id.replace('/', '--')}"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    rev = (dst / "refs" / "main").read_text()
    edit(dst / "snapshots" / rev)


def _drop_from_tokenizer(snap: Path, *, template: bool = False, mask: bool = False) -> None:
    cfg_path = snap / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    if template:
        cfg.pop("chat_template", None)
        (snap / "chat_template.jinja").unlink(missing_ok=True)
    if mask:
        cfg.pop("mask_token", None)
        tj = json.loads((snap / "tokenizer.json").read_text())
        tj["added_tokens"] = [t for t in tj["added_tokens"] if t["content"] != "<|mask|>"]
        (snap / "tokenizer.json").write_text(json.dumps(tj))
        for t in list((cfg.get("added_tokens_decoder") or {})):
            if cfg["added_tokens_decoder"][t]["content"] == "<|mask|>":
                del cfg["added_tokens_decoder"][t]
    cfg_path.write_text(json.dumps(cfg))


def test_student_without_mask_id_or_mask_token_stops_naming_id_and_field(hf_home):
    from tide.models.build import load_student

    out, _ = hf_home
    bad = "tide-test/student-no-mask"
    _copy_repo(out, STUDENT, bad, lambda s: _drop_from_tokenizer(s, mask=True))
    with pytest.raises(ValueError, match=rf"{bad}.*mask_token_id.*<\|mask\|>"):
        load_student(bad, tokenizer=bad)
    from transformers import AutoTokenizer

    from tide.checks import require_mask_token

    with pytest.raises(ValueError, match=rf"distill.*{bad}.*<\|mask\|>"):
        require_mask_token(AutoTokenizer.from_pretrained(bad), "distill B/kl", bad)


def test_checkpoint_without_chat_template_stops_evaluation_naming_id_and_field(hf_home, tmp_path):
    from tide.config import validate_dict
    from tide.stages import evaluate

    out, _ = hf_home
    bad = "tide-test/released-no-template"
    _copy_repo(out, STUDENT, bad, lambda s: _drop_from_tokenizer(s, template=True))
    paper = merged(yaml.safe_load(PAPER.read_text()), yaml.safe_load(OVERLAY.read_text()))
    paper["eval"]["checkpoints"] = {"released_bad": {"path": bad, "model": "tide_bd3lm"}}
    paper["revisions"][bad] = None
    cfg = validate_dict(paper, "paper+rehearsal")
    with pytest.raises(ValueError, match=rf"evaluate released_bad/mmlu.*{bad}.*chat_template"):
        evaluate(cfg, "released_bad", "mmlu", root=tmp_path)
    assert not (tmp_path / "eval").exists()


def test_teacher_mask_id_outside_its_tokenizer_stops_naming_field(hf_home):
    from transformers import AutoTokenizer

    from tide.checks import require_token_id

    tok = AutoTokenizer.from_pretrained("tencent/WeDLM-8B-Instruct")
    require_token_id(tok, 151665, "models.teachers.B.mask_token_id", "distill B/kl")
    with pytest.raises(ValueError, match=r"tencent/WeDLM-8B-Instruct.*teachers.B.mask_token_id 156895"):
        require_token_id(tok, 156895, "models.teachers.B.mask_token_id", "distill B/kl",
                         "tencent/WeDLM-8B-Instruct")


# ------------------------------------------------------------------ prefetch, preflight


def test_prefetch_fills_an_empty_cache_that_loads_offline_and_pins_revisions(hub, tmp_path,
                                                                              monkeypatch):
    """The rehearsal hub plays the remote: an empty HF_HOME gets every repository of the
    paper config, loadable offline, and revisions.yaml pins every id to what was fetched."""
    import huggingface_hub.constants as C
    from transformers import AutoTokenizer

    from tide.hubcache import revision_of
    from tide.prefetch import prefetch

    src, record = hub
    target = tmp_path / "shared_cache"
    monkeypatch.setenv("HF_HOME", str(target))
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(target / "hub"))
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    cfg = load_config(PAPER)
    resolved = prefetch(cfg, tmp_path / "results", source=src)
    assert resolved == {i: info["revision"] for i, info in record.items()}
    tok = AutoTokenizer.from_pretrained(STUDENT, revision=resolved[STUDENT])
    assert tok.mask_token_id == 151669
    pinned_file = tmp_path / "results" / "prefetch" / "revisions.yaml"
    pinned = merged(yaml.safe_load(PAPER.read_text()), yaml.safe_load(pinned_file.read_text()))
    pcfg = validate_dict(pinned, "paper+revisions")
    assert all(revision_of(pcfg, i) == resolved[i] for i in resolved)
    monkeypatch.setenv("TIDE_REHEARSAL", "1")
    assert len(load_hub_dataset("openai/gsm8k", "main", "test", resolved["openai/gsm8k"])) > 0


def _env(hub_dir: Path) -> dict:
    import os
    import sys

    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                HF_HOME=str(hub_dir), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1", TIDE_REHEARSAL="1", OMP_NUM_THREADS="1",
                PYTHONPATH=str(REPO))


@pytest.mark.slow
def test_preflight_on_the_rehearsal_hub(hub, tmp_path):
    """`tide preflight`: every model loads, one step per pipeline, one generation per
    benchmark, through the CLI as on a cluster node."""
    import subprocess
    import sys

    overlay = merged(yaml.safe_load(PAPER.read_text()), yaml.safe_load(OVERLAY.read_text()))
    cfg_file = tmp_path / "rehearsal.yaml"
    cfg_file.write_text(yaml.safe_dump(overlay))
    res = subprocess.run([str(Path(sys.executable).parent / "tide"), "--config", str(cfg_file),
                          "--root", str(tmp_path / "results"), "preflight"], cwd=REPO,
                         env=_env(hub[0]), capture_output=True, text=True, timeout=1200)
    summary = json.loads((tmp_path / "results" / "preflight.json").read_text())
    assert res.returncode == 0 and summary["ok"], [s for s in summary["steps"] if not s["ok"]]
    steps = [s["step"] for s in summary["steps"]]
    assert {"distill A/calm (1 step)", "distill B/kl (1 step)"} <= set(steps)
    assert sum(s.startswith("evaluate bd3lm/") for s in steps) == 8


#: the rehearsal subset: every model kind (AR through lm-eval's hf, the BD3LM student,
#: both teachers, a released checkpoint), every objective (the 6 main runs and the two
#: tidal-on-reverse ablations) and every benchmark once, through Snakemake
SUBSET_EVALS = {"ar": "hellaswag", "bd3lm": "mmlu_pro", "B_kl": "gsm8k", "A_calm": "math",
                "released_B_kl": "bbh", "released_A_tide_cross": "humaneval",
                "B_tide_shared": "mbpp", "A_tide_cross": "mmlu"}


@pytest.mark.slow
def test_rehearsal_subset_through_snakemake(hub, tmp_path):
    import subprocess
    import sys

    from tide import paths

    targets = [str(paths.run_summary(p, r)) for p in ("A", "B")
               for r in (["kl", "tide_shared", "tide_cross", "tidal_on_reverse"] if p == "B"
                         else ["calm", "tide_shared", "tide_cross", "tidal_on_reverse"])]
    targets += [str(paths.eval_score(m, b)) for m, b in SUBSET_EVALS.items()]
    assert set(SUBSET_EVALS.values()) == set(load_config(PAPER)["eval"]["benchmarks"])
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-s", str(REPO / "Snakefile"),
           "-d", str(tmp_path), "--cores", "2", "--configfile", str(PAPER), str(OVERLAY),
           "--", *targets]
    res = subprocess.run(cmd, env=_env(hub[0]), capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-4000:]
    objectives = set()
    for p, names in (("A", ("calm", "tide_shared", "tide_cross", "tidal_on_reverse")),
                     ("B", ("kl", "tide_shared", "tide_cross", "tidal_on_reverse"))):
        for r in names:
            run = json.loads((tmp_path / paths.run_summary(p, r)).read_text())
            objectives.add(run["spec"]["objective"])
            assert run["hub"]["student"]["path"] == STUDENT
            assert run["hub"]["student"]["resolved_commit"] == hub[1][STUDENT]["revision"]
    assert objectives == {"calm", "tidal_chunk", "reverse_calm", "tidal_reverse_calm", "kl",
                          "tidal", "reverse_kl", "tidal_reverse_kl"}
    for m, b in SUBSET_EVALS.items():
        score = json.loads((tmp_path / paths.eval_score(m, b)).read_text())
        assert score["n"] >= 1
        for sub in score["data"].values():  # every dataset read at its stand-in commit
            assert sub["resolved_commit"] == hub[1][sub["dataset_path"]]["revision"]


def test_pinned_revision_reaches_the_evaluated_checkpoint(hf_home):
    """eval_plan passes the pinned commit to lm-eval's model_args, and the BD3LM loader uses
    it: with refs/main moved to a broken snapshot the pinned load still works."""
    import torch

    from tide.eval.lm import load_checkpoint
    from tide.stages import eval_plan

    out, record = hf_home
    rev = record[STUDENT]["revision"]
    paper = merged(yaml.safe_load(PAPER.read_text()), yaml.safe_load(OVERLAY.read_text()))
    paper["revisions"][STUDENT] = rev
    plan = eval_plan(validate_dict(paper, "pinned"), "released_bd3lm", "mmlu")
    assert plan["model_args"]["revision"] == rev and f"revision={rev}" in plan["command"]
    base = out / "hub" / f"models--{STUDENT.replace('/', '--')}"
    decoy = "e" * 40
    (base / "snapshots" / decoy).mkdir()
    (base / "snapshots" / decoy / "config.json").write_text('{"model_type": "not-a2d"}')
    (base / "refs" / "main").write_text(decoy)
    try:
        with pytest.raises(ValueError, match=STUDENT):
            load_checkpoint(STUDENT, tokenizer=STUDENT, dtype=torch.float32,
                            attn_implementation="sdpa", device="cpu")
        tok, model = load_checkpoint(STUDENT, tokenizer=STUDENT, dtype=torch.float32,
                                     attn_implementation="sdpa", device="cpu", revision=rev)
        assert model.config.mask_token_id == 151669
    finally:
        (base / "refs" / "main").write_text(rev)
        shutil.rmtree(base / "snapshots" / decoy)
