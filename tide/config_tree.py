"""The configuration as a typed tree: one frozen dataclass per section, each field with its
one default and its documentation.

``Config.tree`` (tide/config.py) builds it from the validated dict, so code reads
``cfg.tree.models.teachers["B"].concat_order`` instead of repeating
``.get("concat_order", "x0_xt")``. The schema (workflow/schemas/config.schema.yaml) validates;
this tree owns the defaults. tests/test_config.py checks that both name the same fields, that a
field has a default exactly when the schema does not require it, and that each field's
documentation is the schema's description. Distillation runs are ``tide.distill.spec.RunSpec``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from tide.distill.spec import RunSpec

_NO_DEFAULT = dataclasses.MISSING
_NOTE = 'Free-text note recording an open question of the spec and why this value was chosen.'
_TRAIN = 'Training settings of a model trained in the workflow (AR, student SFT, tiny teachers).'


def doc(text: str, default: Any = _NO_DEFAULT, *, mapping: bool = False, factory=None):
    """A field documented by ``text`` (``field.metadata["doc"]``); ``mapping``: an empty
    dict by default; ``factory``: a default built by calling it."""
    if mapping or factory:
        return dataclasses.field(default_factory=factory or dict, metadata={"doc": text})
    return dataclasses.field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class Train:
    """Training settings of a model trained in the workflow (AR, student SFT, tiny teachers)."""

    steps: int = doc('Number of optimizer steps.')
    lr: float = doc('Peak learning rate (AdamW).')
    batch_size: int = doc('Per-process batch size.')
    epochs: float | None = doc(
        'Epochs (paper); steps are derived from the dataset size when given.', None)
    warmup_ratio: float = doc('Linear warm-up share of steps, then cosine decay.', 0.1)
    grad_clip: float = doc('Gradient-norm clip (HF default 1.0).', 1.0)
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class TinyData:
    """The generated tiny corpus (data.source tiny)."""

    n_train: int = doc('Training conversations.')
    n_heldout: int = doc('Held-out conversations (bits/byte).')
    seed: int = doc('Seed of the generator.')


@dataclass(frozen=True)
class MixtureSource:
    """One dataset of the SFT mixture."""

    path: str = doc('Hub id or local file/directory of the dataset.')
    split: str = doc('Split to read.', "train")
    name: str | None = doc('Dataset configuration (subset) name.', None)
    filter: str | None = doc('e.g. "python" for the OpenCoder subsets.', None)


@dataclass(frozen=True)
class Data:
    """Where the training conversations come from and how long sequences may be."""

    source: str = doc(
        'tiny = generated corpus; sft_mixture = raw conversations tokenized here; '
        "pretokenized = the authors' per-teacher datasets.")
    max_length: int = doc('Student sequence length (tokens; right-truncated).')
    teacher_max_length: dict[str, int] = doc('Teacher sequence cap per pipeline (tokens).')
    tiny: TinyData | None = doc('The generated tiny corpus (data.source tiny).', None)
    sft_mixture: tuple[MixtureSource, ...] = doc(
        "The SFT mixture's datasets, concatenated (data.source sft_mixture; also the SFT "
        "student's data).", ())
    pretokenized: dict[str, str] | None = doc(
        "Hub id or directory of each pipeline's pre-tokenized dataset (data.source "
        'pretokenized).', None)
    heldout_examples: int | None = doc(
        'Held-out examples used for the bits-per-byte comparison of teachers and student.', None)
    limit: int | None = doc(
        'Use only the first N rows of each training dataset (preflight, rehearsal; null = all).',
        None)
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class Tokenizers:
    """Each tokenizer: "train" (trained on the tiny corpus) or a hub id / directory."""

    student: str = doc("Student tokenizer (Qwen3's + mask token).")
    teacher_a: str = doc('Pipeline A teacher tokenizer (its own vocabulary).')
    teacher_b: str = doc(
        "Pipeline B teacher tokenizer (the student's vocabulary + its own specials).")


@dataclass(frozen=True)
class AR:
    """The autoregressive model (converted into the student; a row of the main table)."""

    init: str = doc(
        '"train" trains it on the tiny corpus; else a hub id or an existing local directory.')
    dims: dict[str, int] | None = doc(
        'Architecture sizes of a model built from a config (tiny path).', None)
    train: Train | None = doc(_TRAIN, None)


@dataclass(frozen=True)
class Student:
    """The BD3LM student every distillation run starts from."""

    init: str = doc(
        '"convert_ar" converts models.ar and fine-tunes it (sft); else a hub id or an '
        'existing local directory.')
    sft: Train | None = doc(_TRAIN, None)
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class Teacher:
    """One pipeline's teacher (A = LLaDA2-like, B = WeDLM-like)."""

    init: str = doc(
        '"train" builds and trains a tiny teacher; otherwise a hub id or local directory.')
    kind: str = doc(
        'bidirectional = LLaDA2-like (pipeline A); bd3lm = WeDLM-like run as BD3LM (pipeline B).')
    mask_token_id: int | str = doc("The teacher's own mask id; auto = read from its tokenizer.")
    arch: str | None = doc('Architecture of a trained tiny teacher.', None)
    from_ar: bool = doc(
        "init 'train' only: start from models.ar's weights (its dims; an embedding row per "
        "token both vocabularies share, the teacher's own specials at their mean) instead of "
        "a random init, as WeDLM-8B starts from Qwen3-8B. Pipeline B (shared tokenizer) only.",
        False)
    concat_order: str = doc('Pipeline B input layout (docs/method.md §1.4).', "x0_xt")
    dims: dict[str, int] | None = doc(
        'Architecture sizes of a model built from a config (tiny path).', None)
    train: Train | None = doc(_TRAIN, None)
    target_bpb_ratio: float = doc(
        "A trained teacher's held-out bits/byte must be <= ratio x the SFT student's, checked "
        "after both are trained (rule check_teacher) and before any distillation.", 0.8)
    dtype: str | None = doc(
        "Precision the frozen teacher is loaded in (default the run's dtype).", None)
    sharding: str = doc(
        'With several distill ranks: a full teacher copy per rank, or FSDP-sharded over the '
        'ranks (for a teacher that does not fit one GPU).', "replicate")
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class Models:
    """The AR model, the BD3LM student and the two teachers."""

    ar: AR = doc('The autoregressive model (converted into the student; a row of the main table).')
    student: Student = doc('The BD3LM student every distillation run starts from.')
    teachers: dict[str, Teacher] = doc('The teacher of each pipeline.')


@dataclass(frozen=True)
class Checkpoint:
    """A released checkpoint evaluated without training."""

    path: str = doc('Hub id or local directory of the checkpoint.')
    model: str = doc('lm-eval model: tide_bd3lm (our diffusion sampler) or hf (autoregressive).')


@dataclass(frozen=True)
class Eval:
    """Benchmarks through lm-eval, with the paper's protocol per benchmark."""

    source: str = doc(
        "tiny = offline items generated in the real schemas; hub = the benchmarks' datasets.")
    benchmarks: tuple[str, ...] = doc(
        'Benchmarks every main model is scored on (gsm8k, math, bbh, mmlu_pro, hellaswag, '
        'mmlu, humaneval, mbpp).')
    batch_size: int = doc('Per rank (per GPU); the global batch is batch_size × tasks.')
    seed: int = doc(
        "Seed of the tiny benchmark items and of lm-eval's sampling (random, numpy, torch, "
        'few-shot).')
    limit: int | None = doc("Documents per (sub)task; null = all (the paper's setting).", None)
    tiny_documents: int | None = doc(
        'eval.source tiny: held-out documents written per benchmark (spread over its '
        'subtasks; fewer where a task family has fewer held-out items). Default: limit, else '
        '100.', None)
    per_model: bool = doc(
        'One job per model generates, merges and scores all its benchmarks in one process '
        "(tide eval-model: the staged path's files); false = one job per generation shard, "
        "merge and score (the paper's cluster setting).", False)
    score_controls: bool = doc(
        'Score the teacher-free controls (objective ce_only / ce_only_chunk) on the '
        'benchmarks; false = held-out metrics only.', True)
    max_subtasks: int | None = doc(
        'Group benchmarks (BBH, MATH) on the hub route: evaluate only their first N subtasks '
        '(rehearsal; null = all).', None)
    ablation_benchmarks: tuple[str, ...] | None = doc(
        'Benchmarks for ablation runs (default: all of benchmarks).', None)
    shards: int | dict[str, int] | None = doc(
        'Generation shards per (model, benchmark): one count for all, or benchmark -> count. '
        'Unset: derived from throughput_tokens_per_s and the eval_generate runtime '
        '(tide/plan.py), else 1.', None)
    throughput_tokens_per_s: float | None = doc(
        'Generated tokens per second of one generation job (the paper: 41 at batch 1); sizes '
        'shards and the GPU-hour estimate of `tide plan`. `tide bench` measures it.', None)
    inject_think: bool | None = doc(
        'Append the empty think block to prompts lacking it (authors: yes).', None)
    generated_pad_as_padding: bool | None = doc(
        'A generated pad token is padding for later blocks (authors: yes).', None)
    checkpoints: dict[str, Checkpoint] = doc(
        'Released checkpoints evaluated without training (target `released`): model id -> hub'
        ' id or local dir, and the lm-eval model that runs it.', mapping=True)
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class Resources:
    """One rule's compute request; unset fields come from resources.default."""

    threads: int | None = doc('CPU threads (cpus-per-task) of the job.', None)
    mem_mb: int | None = doc('Memory of the job in MB.', None)
    runtime: int | None = doc('Time limit in minutes.', None)
    gpus: int = doc('GPUs of the job (0 on a CPU-only config).', 0)
    tasks: int = doc(
        'Processes (ranks): 1, or = gpus for one rank per GPU; more than 1 only for distill.', 1)
    nodes: int = doc('Nodes the tasks and GPUs are split evenly over.', 1)
    gpu_mem_gb: float | None = doc(
        'Memory of each GPU the rule runs on (GB, e.g. 80 for an H100/A100-80GB); `tide '
        "memory` checks every distillation run's per-rank estimate against it with a 10 % "
        'margin.', None)


@dataclass(frozen=True)
class StudentTraining:
    """How the distillation student is trained (all runs of the config)."""

    precision: str | None = doc(
        'bf16_pure: bf16 weights and AdamW states updated in place, no fp32 master copy (the '
        "authors' setting, paper default; updates below half a bf16 ulp are lost). "
        'bf16_mixed: fp32 master weights and AdamW states, forward/backward under bf16 '
        'autocast (the standard way). fp32: fp32 throughout. Absent: bf16_pure for dtype '
        'bfloat16, fp32 for float32; float16 training (no gradient scaler) is refused. '
        'Recorded in every run.json.', None)
    teacher_lm_head: str = doc(
        "all: the teacher's logits at every position (the authors'). scored: its LM head only"
        ' where the distillation term reads it (pipeline B: masked aligned pairs; A: tokens '
        'of active chunks); same losses (tested), less memory (`tide memory`). Needs a '
        'teacher that honours logits_to_keep.', "all")
    activation_checkpointing: bool = doc(
        'Recompute each student decoder layer in the backward instead of storing its '
        'activations (HF gradient checkpointing, non-reentrant): about 14-18 GiB less per '
        "rank at the paper's shapes for one more student forward per step; same losses "
        '(tested). See `tide memory`.', False)
    note: str | None = doc(_NOTE, None)


@dataclass(frozen=True)
class Throughput:
    """Figures for ``tide plan`` (estimated GPU-hours; tide/plan.py)."""

    distill_seconds_per_step: float | dict[str, float] | None = doc(
        'Wall seconds per optimizer step of one distill job (all its GPUs); one figure or per'
        ' pipeline (A, B).', None)
    distill_steps_per_epoch: int | dict[str, int] | None = doc(
        'Optimizer steps per epoch (dataset rows / global batch); one figure or per '
        'pipeline.', None)


@dataclass(frozen=True)
class Distill:
    """The distillation runs and the ablation grid (resolved runs: ``ConfigTree.runs``)."""

    defaults: dict = doc('Settings every run inherits unless it overrides them.')
    runs: dict[str, dict] = doc(
        'The main runs of each pipeline (name -> run); each is a column of the main table.')
    ablations: dict[str, dict] = doc(
        "The ablation grid: each entry is its own distill -> eval chain with a named target.",
        mapping=True)
    seeds: int = doc(
        'Training seeds of every main run (and control) for the held-out metrics (tide '
        'heldout): seed 0 is the run itself, seed k its repeat with seed + k (default 1: no '
        'repeats).', 1)


@dataclass(frozen=True)
class ConfigTree:
    """One experiment (config/tiny.yaml, config/paper.yaml), validated."""

    name: str = doc('Name of the experiment (tiny, paper).')
    seed: int = doc(
        'Base random seed (data splits, model init, noise draws; stages add fixed offsets).')
    device: str = doc('Where training and evaluation run; auto = cuda when available.')
    dtype: str = doc(
        "Model dtype for evaluation and the teachers' default; the student's training "
        'precision is train.precision.')
    attn_implementation: str = doc(
        'Attention implementations whose masks are tested (flex needs a BlockMask; see docs).')
    block_size: int = doc('BD3LM block length B of the student (training mask and sampler).')
    shared_vocab_size: int | str = doc(
        'Ids below this are identical in the student and pipeline B teacher vocabularies '
        '(token-level losses slice to it); auto = from the trained tokenizers.')
    data: Data = doc('Where the training conversations come from and how long sequences may be.')
    tokenizers: Tokenizers = doc(
        'Each tokenizer: "train" (trained on the tiny corpus) or a hub id / directory.')
    models: Models = doc('The AR model, the BD3LM student and the two teachers.')
    eval: Eval = doc("Benchmarks through lm-eval, with the paper's protocol per benchmark.")
    resources: dict[str, Resources] = doc(
        'Compute per rule: default, and the rules with their own entry '
        '(tide.config.RESOURCE_KEYS; other keys are rejected).')
    distill: Distill = doc('The distillation runs and the ablation grid.')
    runs: tuple[RunSpec, ...] = doc(
        'Every distillation run: main runs, then ablations (distill.defaults < base run < its'
        ' own fields).')
    train: StudentTraining = doc(
        'How the distillation student is trained (all runs of the config).',
        factory=StudentTraining)
    revisions: dict[str, str | None] | None = doc(
        "Hub id -> the commit (40-hex sha) every load of it uses; null = unpinned (the hub's "
        'main, resolved and recorded at load time). Every hub id the config loads must be '
        'listed (tide/hubcache.py:config_hub_ids).', None)
    throughput: Throughput | None = doc(
        'Figures for `tide plan` (estimated GPU-hours; tide/plan.py). Unknown figures show as'
        ' unknown, never as zero.', None)
    keep_stale_states: int = doc(
        "Set-aside training states kept per run (results/state/stale) when a run's identity "
        'changed; older ones are deleted.', 2)

    def rule_resources(self, rule: str) -> Resources:
        """The compute request of ``rule``: its own entry (already merged over ``default``),
        or ``default`` for a rule without one."""
        return self.resources.get(rule, self.resources["default"])


def build(raw: dict, runs: tuple[RunSpec, ...]) -> ConfigTree:
    """The tree of a validated config dict (``runs``: ``Config.runs()``). Each rule's
    ``resources`` entry is read over ``resources.default`` (a field it does not set is the
    default rule's), then over the field defaults of :class:`Resources`."""
    res = raw["resources"]
    merged = {rule: {**res["default"], **(spec or {})} for rule, spec in res.items()}
    return _build(ConfigTree, {**raw, "runs": runs, "resources": merged})


def _build(tp, value):
    """``value`` as type ``tp``: dataclasses field by field (absent keys take the field's
    default), dicts and tuples element by element, anything else as it is."""
    if value is None or (isinstance(tp, type) and isinstance(value, tp)):
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        nested = [a for a in args if dataclasses.is_dataclass(a)]
        return _build(nested[0], value) if nested and isinstance(value, dict) else value
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints[f.name], value[f.name])
                     for f in dataclasses.fields(tp) if f.name in value})
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if origin is tuple:
        return tuple(_build(args[0], v) for v in value)
    return value
