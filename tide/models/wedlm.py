"""WeDLM checkpoints (the pipeline-B teacher) as transformers' native Qwen3.

What ``tencent/WeDLM-8B-Instruct`` is (sources in README "Known differences from the
authors' code" and tests/fixtures/wedlm_reference/PROVENANCE.md):

- its ``config.json`` says ``model_type: "wedlm"`` with an ``auto_map`` to remote code
  (``configuration_wedlm.WeDLMConfig``, ``modeling_wedlm.WeDLMForCausalLM``); the authors
  load it with ``AutoModelForCausalLM.from_pretrained(..., trust_remote_code=True)``
  (PKU-YuanGroup/TIDE ``examples/a2d/bd3lm/distill_wedlm.py``);
- the remote model is a self-contained Qwen3-style dense decoder: separate q/k/v/o
  projections, per-head q/k RMSNorm when ``qk_norm``, optional q/k/v bias
  (``attention_bias``; o_proj never has one), SwiGLU MLP, default RoPE over the whole head;
  its weight names are exactly ``Qwen3ForCausalLM``'s (``model.embed_tokens``,
  ``model.layers.{i}.self_attn.{q,k,v,o}_proj``, ``...q_norm``, ``...k_norm``,
  ``...mlp.{gate,up,down}_proj``, ``...input_layernorm``, ``...post_attention_layernorm``,
  ``model.norm``, ``lm_head``);
- its forward takes ``attention_mask`` either as a tensor (then it builds a *causal* mask
  with ``create_causal_mask``) or as a dict keyed by layer type (``full_attention`` /
  ``sliding_attention``) used as-is; the authors pass the dict, both keys the same additive
  float BD3LM mask (0 / finfo.min, padding rows and columns blocked), over [x_0 ; x_t] with
  position ids 0..L-1 twice (``distill_bd3lm.py`` ≈1157-1178, 1415-1437);
- under transformers 5 that remote code does not run: constructing it fails in
  ``PreTrainedModel._init_weights`` (its rotary embedding has no
  ``compute_default_rope_parameters`` and ``ROPE_INIT_FUNCTIONS`` has no "default"), and
  a tensor mask calls ``create_causal_mask(input_embeds=...)``, a keyword transformers 5
  renamed.

So a WeDLM checkpoint is loaded as ``Qwen3ForCausalLM`` with a config translated from its
``config.json`` (never running its code); the BD3LM teacher path passes the explicit 4-D
mask, which transformers' Qwen3 uses as given (the same override of causality as the
authors' dict). Logits equal the remote code's on the same tiny weights under the authors'
dict mask (tests/test_wedlm.py). Anything Qwen3 cannot reproduce is refused by name.
"""

from __future__ import annotations

from transformers import Qwen3Config

MODEL_TYPE = "wedlm"

#: config.json fields carried over to Qwen3Config unchanged
_SAME = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
         "num_attention_heads", "num_key_value_heads", "hidden_act", "max_position_embeddings",
         "initializer_range", "rms_norm_eps", "tie_word_embeddings", "rope_theta",
         "attention_dropout", "pad_token_id", "bos_token_id", "eos_token_id")


def qwen3_config(raw: dict, source: str) -> Qwen3Config:
    """The Qwen3Config that reproduces a WeDLM ``config.json`` (dict), or a ValueError naming
    the field Qwen3 cannot reproduce."""
    if raw.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{source}/config.json: model_type: expected {MODEL_TYPE!r}, "
                         f"found {raw.get('model_type')!r}")
    problems = []
    if not raw.get("qk_norm", False):
        problems.append("qk_norm: expected true (Qwen3-shaped; false is the Qwen2.5 variant)")
    if raw.get("attention_bias", True):  # WeDLM's own default is True
        problems.append("attention_bias: expected false (Qwen3 would add an o_proj bias too)")
    if raw.get("use_sliding_window") or set(raw.get("layer_types") or ["full_attention"]) \
            != {"full_attention"}:
        problems.append("use_sliding_window/layer_types: expected full attention in every layer")
    scaling = raw.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) not in (None, "default"):
        problems.append(f"rope_scaling: expected none, found {scaling!r}")
    missing = [k for k in _SAME[:6] if k not in raw]
    if missing:
        problems.append(f"missing fields {missing}")
    if problems:
        raise ValueError(f"{source}/config.json (WeDLM): cannot load as Qwen3: "
                         + "; ".join(problems))
    kwargs = {k: raw[k] for k in _SAME if k in raw}
    head_dim = raw.get("head_dim") or raw["hidden_size"] // raw["num_attention_heads"]
    return Qwen3Config(head_dim=head_dim, attention_bias=False, use_sliding_window=False,
                       **kwargs)
