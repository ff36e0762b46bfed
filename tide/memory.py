"""Per-rank memory estimate of each distillation run of a config (``tide memory``).

One rank holds (bytes; w = 2 for bf16_pure, 4 for bf16_mixed/fp32 weights, e = 2 for a
bf16 forward, 4 for fp32; N = parameters; B = per-rank batch; L = student length
``data.max_length``; Lt = the pipeline's ``data.teacher_max_length``; V / Vt vocabularies):

* student weights N·w, gradients N·w, AdamW moments 2·N·w; bf16_mixed also autocast's
  bf16 copy of the weights, N·2;
* teacher weights Nt·2 (bf16), ÷ ranks with ``sharding: fsdp`` (+ one gathered layer);
* student activations saved for backward: per layer and token of the 2L-token
  [x_t ; x_0] layout, ``_layer_activation_bytes`` (inputs of every matmul, RMSNorm's fp32
  inputs, the SwiGLU intermediates, attention q/k/v/out); with activation checkpointing
  only each layer's input plus one layer's worth during recomputation;
* the BD3LM mask [B, 2L, 2L] (bool);
* student logits of the x_t half B·L·V: the model's output (e), CE's fp32 copy and its
  log-softmax (4 + 4), and the gradient of the logits (4) during backward;
* teacher logits B·Lt·Vt (``teacher_lm_head: scored``: pipeline B ≤ B·L rows): one pass (bf16 output + fp32 copy), with CompDemo two fp32
  passes (merged in place, tide/distill/compdemo.py) + the bf16 output of the second
  (pipeline A's chunk log-softmax of them replaces the second pass once merged).

Constants are from the code paths, not fitted; tests/test_memory.py checks the sum against
allocations measured by the PyTorch profiler on CPU at small shapes (±30 %). Allocator
fragmentation, the CUDA context (≈ 0.5–1 GiB) and NCCL buffers come on top: the margin.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2 ** 30

#: shapes of the hub models of config/paper.yaml (their config.json), for estimates without
#: downloading them; a local directory is read from its config.json instead
KNOWN_SHAPES = {
    "dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1": dict(
        vocab=151936, hidden=1024, layers=28, heads=16, kv_heads=8, head_dim=128,
        intermediate=3072, tied=True),
    "tencent/WeDLM-8B-Instruct": dict(  # Qwen3-8B dense
        vocab=151936, hidden=4096, layers=36, heads=32, kv_heads=8, head_dim=128,
        intermediate=12288, tied=False),
    "inclusionAI/LLaDA2.0-mini": dict(  # 16B MoE: 256 experts top-8 + 1 shared, 20 layers
        vocab=157184, hidden=2048, layers=20, heads=16, kv_heads=4, head_dim=128,
        intermediate=5120, experts=256, top_k=8, moe_intermediate=512, shared_experts=1,
        tied=False),
}


@dataclass(frozen=True)
class Shape:
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    experts: int = 0
    top_k: int = 0
    moe_intermediate: int = 0
    shared_experts: int = 0
    tied: bool = True

    def params(self) -> int:
        """N = embeddings (+ untied LM head) + layers × (attention + MLP or experts + norms)."""
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + 2 * self.head_dim
        if self.experts:
            mlp = (self.experts + self.shared_experts) * 3 * h * self.moe_intermediate \
                + h * self.experts
        else:
            mlp = 3 * h * self.intermediate
        emb = self.vocab * h * (1 if self.tied else 2)
        return emb + self.layers * (attn + mlp + 2 * h) + h

    def layer_params(self) -> int:
        return (self.params() - self.vocab * self.hidden * (1 if self.tied else 2)) // self.layers


def shape_of_config(cfg_obj) -> Shape:
    """A Shape from a transformers config object (or anything with the same fields)."""
    g = lambda k, d=0: getattr(cfg_obj, k, d) or d  # noqa: E731
    heads = g("num_attention_heads")
    return Shape(vocab=g("vocab_size"), hidden=g("hidden_size"), layers=g("num_hidden_layers"),
                 heads=heads, kv_heads=g("num_key_value_heads", heads),
                 head_dim=g("head_dim", g("hidden_size") // max(1, heads)),
                 intermediate=g("intermediate_size"), experts=g("num_experts"),
                 top_k=g("num_experts_per_tok"), moe_intermediate=g("moe_intermediate_size"),
                 shared_experts=g("num_shared_experts"),
                 tied=bool(getattr(cfg_obj, "tie_word_embeddings", True)))


def _layer_activation_bytes(s: Shape, e: int) -> int:
    """Bytes saved for backward per token per decoder layer (Qwen3 layer, SDPA attention).

    RMSNorms keep their fp32 input (4·h twice, 4·(q + kv) for q/k norms) and output (e·h);
    the q/k/v projections keep their input, attention keeps q, k, v, its output and the
    log-sum-exp, o_proj its input, the SwiGLU MLP its input, gate and up outputs, the
    activation and the product (down's input): e·(3h + 2q + 3kv + 4I) + 4·(2h + q + kv).
    An MoE layer routes each token to top_k experts of width moe_intermediate.
    """
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    inter = s.top_k * s.moe_intermediate + s.shared_experts * s.moe_intermediate \
        if s.experts else s.intermediate
    return e * (3 * s.hidden + 2 * q + 3 * kv + 4 * inter) + 4 * (2 * s.hidden + q + kv)


@dataclass(frozen=True)
class RunShape:
    """What a distillation run's memory depends on."""

    pipeline: str
    batch: int
    length: int  # student L
    teacher_length: int  # Lt
    compdemo: bool
    precision: str
    world_size: int = 1
    fsdp: bool = False
    activation_checkpointing: bool = False
    teacher_scored_only: bool = False  # train.teacher_lm_head: scored


def estimate(student: Shape, teacher: Shape, run: RunShape) -> dict[str, int]:
    """Bytes per rank by component (see the module docstring); ``total`` is their sum."""
    w = 2 if run.precision == "bf16_pure" else 4
    e = 4 if run.precision == "fp32" else 2
    n_s, n_t = student.params(), teacher.params()
    B, L, Lt = run.batch, run.length, run.teacher_length
    tokens = B * 2 * L
    out = {"student_weights": n_s * w, "student_grads": n_s * w, "adamw_states": 2 * n_s * w}
    if run.precision == "bf16_mixed":
        out["autocast_weight_copies"] = n_s * 2
    t_bytes = n_t * 2
    if run.fsdp and run.world_size > 1:
        t_bytes = t_bytes // run.world_size + teacher.layer_params() * 2
    out["teacher_weights"] = t_bytes
    per_layer = _layer_activation_bytes(student, e)
    if run.activation_checkpointing:
        out["student_activations"] = tokens * (student.layers * e * student.hidden + per_layer)
    else:
        out["student_activations"] = tokens * student.layers * per_layer
    out["attention_mask"] = B * (2 * L) ** 2
    out["student_logits"] = B * L * student.vocab * (e + 4 + 4 + 4)
    # scored positions only: pipeline B's masked aligned pairs are at most the student's L
    # positions per row; pipeline A's worst case (t → 1: every chunk active) is every
    # teacher token, so only B's bound shrinks
    rows_t = B * min(L, Lt) if run.teacher_scored_only and run.pipeline == "B" else B * Lt
    t_logits = rows_t * teacher.vocab
    if run.compdemo:
        out["teacher_logits"] = t_logits * (4 + 4 + 2)
    else:
        out["teacher_logits"] = t_logits * (2 + 4)
    out["total"] = sum(out.values())
    return out


def _shape(spec: str, dims: dict | None, vocab: int) -> Shape:
    """Shape of a model named in the config: a known hub id, a local dir, or tiny dims."""
    from pathlib import Path

    if spec in KNOWN_SHAPES:
        return Shape(**KNOWN_SHAPES[spec])
    if Path(spec, "config.json").is_file():
        from transformers import AutoConfig

        return shape_of_config(AutoConfig.from_pretrained(spec, trust_remote_code=True))
    if dims:
        heads = dims["num_attention_heads"]
        return Shape(vocab=vocab, hidden=dims["hidden_size"], layers=dims["num_hidden_layers"],
                     heads=heads, kv_heads=dims["num_key_value_heads"],
                     head_dim=dims["hidden_size"] // heads, intermediate=dims["intermediate_size"],
                     experts=dims.get("num_experts", 0), top_k=dims.get("num_experts_per_tok", 0),
                     moe_intermediate=dims.get("moe_intermediate_size", 0))
    raise ValueError(f"memory estimate: unknown model {spec!r} (not a known hub id, no local "
                     f"config.json, no dims); known: {sorted(KNOWN_SHAPES)}")


def config_estimates(cfg, tiny_vocab: int = 1024) -> list[dict]:
    """One row per distillation run of ``cfg`` (main runs and ablations): GiB by component,
    the GPU memory the ``distill`` resources ask for, and whether it fits with a 10 % margin.
    ``tiny_vocab``: the vocabulary assumed for tokenizers the workflow trains itself."""
    tree = cfg.tree
    models, data, switches = tree.models, tree.data, tree.train
    res = tree.rule_resources("distill")
    gpus, tasks, gpu_gib = res.gpus, res.tasks or 1, res.gpu_mem_gb
    student_spec = models.student.init
    student = _shape(models.ar.init if student_spec == "convert_ar" else student_spec,
                     models.ar.dims, tiny_vocab)
    rows = []
    for run in tree.runs:
        tspec = models.teachers[run.pipeline]
        if tspec.from_ar:  # the AR model's weights and shape (models.teachers.B.from_ar)
            teacher = _shape(models.ar.init if models.ar.init != "train" else "",
                             models.ar.dims, tiny_vocab)
        else:
            teacher = _shape(tspec.init if tspec.init != "train" else "", tspec.dims, tiny_vocab)
        rs = RunShape(pipeline=run.pipeline, batch=run.batch_size, length=data.max_length,
                      teacher_length=data.teacher_max_length[run.pipeline],
                      compdemo=bool(run.compdemo), precision=cfg.precision, world_size=tasks,
                      fsdp=tspec.sharding == "fsdp",
                      activation_checkpointing=switches.activation_checkpointing,
                      teacher_scored_only=switches.teacher_lm_head == "scored")
        est = estimate(student, teacher, rs)
        total = est["total"] / GIB
        rows.append({"run": f"{run.pipeline}/{run.name}", "compdemo": rs.compdemo,
                     **{k: round(v / GIB, 2) for k, v in est.items()},
                     "gpu_gib": gpu_gib, "gpus": gpus,
                     "fits": None if gpu_gib is None else total <= 0.9 * gpu_gib * 1e9 / GIB})
    return rows


def table(rows: list[dict]) -> str:
    """A markdown table of :func:`config_estimates` (GiB)."""
    cols = ["run", "student_weights", "student_grads", "adamw_states", "teacher_weights",
            "student_activations", "student_logits", "teacher_logits", "total", "gpu_gib", "fits"]
    if any("autocast_weight_copies" in r for r in rows):
        cols.insert(4, "autocast_weight_copies")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def summary_lines(cfg) -> list[str]:
    """One line per pipeline: its largest per-rank estimate against the GPU memory asked for
    (what ``tide validate`` logs; ``tide memory`` prints the whole table)."""
    try:
        rows = config_estimates(cfg)
    except ValueError as exc:
        return [f"memory estimate not available: {exc}"]
    out = []
    for pipeline in sorted({r["run"].split("/")[0] for r in rows}):
        worst = max((r for r in rows if r["run"].startswith(pipeline + "/")), key=lambda r: r["total"])
        asked = "no resources.distill.gpu_mem_gb" if worst["gpu_gib"] is None else \
            f"{worst['gpu_gib']} GB per GPU asked: {'fits' if worst['fits'] else 'DOES NOT FIT'} " \
            "with a 10 % margin"
        out.append(f"pipeline {pipeline}: largest per-rank estimate {worst['total']:.1f} GiB "
                   f"({worst['run']}, precision {cfg.precision}); {asked}")
    return out
