"""A native implementation of the LLaDA2-MoE architecture (the pipeline-A teacher).

``inclusionAI/LLaDA2.0-mini`` ships its modelling code as remote code (``auto_map``) written
for transformers 4.57 (the authors' pin). Under this project's transformers 5 that code does
not run (it imports ``is_torch_fx_available`` and looks up ``ROPE_INIT_FUNCTIONS["default"]``,
both removed; after ``from_pretrained`` its non-persistent rotary ``inv_freq`` is left
uninitialised, so logits are silently wrong; ``DynamicCache.from_legacy_cache`` is gone), and
its attention mask handling differs per implementation (its eager path inverts any 4-D mask,
so only a 1/0 keep-mask works there; its sdpa path adds a float mask and, on CUDA, rejects a
boolean one in ``_unmask_unattended``). So this module implements the architecture itself, as
transformers does for the models it supports, and loads the hub weights by ``from_pretrained``
without ``trust_remote_code``. It was written from reading the public modelling file (authors'
vendored copy: PKU-YuanGroup/TIDE ``dllm/pipelines/llada2/models/modeling_llada2_moe.py``);
its logits equal that file's on the same tiny weights (tests/test_llada2.py against
tests/fixtures/llada2_reference, provenance in its PROVENANCE.md).

Config (``config.json``, ``model_type: "llada2_moe"``), the fields read here:
``vocab_size, hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
head_dim`` (default hidden/heads), ``intermediate_size`` (dense layers),
``moe_intermediate_size, num_experts, num_shared_experts, num_experts_per_tok, n_group,
topk_group, routed_scaling_factor, first_k_dense_replace`` (layers below it are dense),
``hidden_act, rms_norm_eps, use_qkv_bias, use_bias, use_qk_norm, partial_rotary_factor,
rope_theta, rope_scaling`` (only ``None``/"default" is supported; anything else is refused),
``max_position_embeddings, pad_token_id, tie_word_embeddings``. ``norm_head``, dropouts,
sliding-window fields are accepted and unused (the published forward ignores them too).

Weight names (what ``model.safetensors`` holds)::

    model.word_embeddings.weight                       [V, H]
    model.layers.{i}.input_layernorm.weight            [H]
    model.layers.{i}.attention.query_key_value.weight  [(n_q + 2 n_kv) * D, H]  (+ .bias if use_qkv_bias)
    model.layers.{i}.attention.query_layernorm.weight  [D]   (use_qk_norm)
    model.layers.{i}.attention.key_layernorm.weight    [D]   (use_qk_norm)
    model.layers.{i}.attention.dense.weight            [H, n_q * D]  (+ .bias if use_bias)
    model.layers.{i}.post_attention_layernorm.weight   [H]
    dense layer i < first_k_dense_replace:
    model.layers.{i}.mlp.{gate_proj,up_proj,down_proj}.weight
    MoE layer:
    model.layers.{i}.mlp.gate.weight                   [E, H]   router
    model.layers.{i}.mlp.gate.expert_bias              [E]      routing-only bias
    model.layers.{i}.mlp.experts.{e}.{gate_proj,up_proj,down_proj}.weight
    model.layers.{i}.mlp.shared_experts.{gate_proj,up_proj,down_proj}.weight  (num_shared_experts set)
    model.norm.weight                                  [H]
    lm_head.weight                                     [V, H]

Architecture, per layer (pre-norm residual): fused QKV projection; per-head RMSNorm on q and k;
rotary embedding on the first ``int(D * partial_rotary_factor)`` dims of each head (half-split
rotation); grouped-query attention with scale D^-1/2; output projection ``dense``. MoE router:
s = sigmoid(W_g h) in fp32; experts chosen by s + expert_bias, limited to the ``topk_group``
groups (of ``n_group``) with the largest sum of their top-2 scores; weights = chosen s
normalised to sum 1 (when k > 1) times ``routed_scaling_factor``; output = Σ w_e·expert_e(h)
+ shared_experts(h). Logits are returned in fp32 (as the published head does).

Attention mask (the LLaDA2 contract for a diffusion teacher: every token sees every other,
padding keys are blocked): ``attention_mask`` may be ``None`` (full bidirectional attention),
a boolean 4-D ``[B, 1, Q, K]`` mask (True = may attend), or a float 4-D additive mask
(0 = attend, a large negative or -inf = blocked), the same on sdpa and eager. A 2-D mask is
refused: the published code turns it into a *causal* mask, which is never what a diffusion
teacher wants. A query row with every key blocked (a padding query) attends to everything
instead of producing NaN, as transformers' ``_unmask_unattended`` does; such rows are never
scored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import CausalLMOutputWithPast

MODEL_TYPE = "llada2_moe"


class LLaDA2MoeConfig(PretrainedConfig):
    """Config of a LLaDA2-MoE checkpoint; field names and defaults as in the hub's config class."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size=30592, hidden_size=1024, intermediate_size=None,
                 num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=0,
                 hidden_act="silu", use_qkv_bias=False, use_qk_norm=True, use_bias=True,
                 rms_norm_eps=1e-05, norm_head=False, tie_word_embeddings=False,
                 embedding_dropout=0.1, attention_dropout=0.1, output_dropout=0.1,
                 initializer_range=0.02, max_position_embeddings=16384, rope_theta=10000.0,
                 use_cache=True, use_sliding_window=False, sliding_window=4096,
                 max_window_layers=28, rope_scaling=None, pad_token_id=126081, num_experts=16,
                 num_shared_experts=0, num_experts_per_tok=2, n_group=8, topk_group=4,
                 routed_scaling_factor=2.5, moe_intermediate_size=None, first_k_dense_replace=0,
                 head_dim=None, output_router_logits=False, partial_rotary_factor=0.5, **kwargs):
        for key, value in dict(
            vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
            num_key_value_heads=num_key_value_heads, hidden_act=hidden_act,
            use_qkv_bias=use_qkv_bias, use_qk_norm=use_qk_norm, use_bias=use_bias,
            rms_norm_eps=rms_norm_eps, norm_head=norm_head, embedding_dropout=embedding_dropout,
            attention_dropout=attention_dropout, output_dropout=output_dropout,
            initializer_range=initializer_range, max_position_embeddings=max_position_embeddings,
            rope_theta=rope_theta, use_cache=use_cache, use_sliding_window=use_sliding_window,
            sliding_window=sliding_window, max_window_layers=max_window_layers,
            rope_scaling=rope_scaling, num_experts=num_experts,
            num_shared_experts=num_shared_experts, num_experts_per_tok=num_experts_per_tok,
            n_group=n_group, topk_group=topk_group, routed_scaling_factor=routed_scaling_factor,
            moe_intermediate_size=moe_intermediate_size,
            first_k_dense_replace=first_k_dense_replace,
            output_router_logits=output_router_logits,
            partial_rotary_factor=partial_rotary_factor,
        ).items():
            setattr(self, key, value)
        self.head_dim = head_dim or hidden_size // num_attention_heads
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings,
                         **kwargs)


class LLaDA2MoeRMSNorm(nn.Module):
    """y = w · x / sqrt(mean(x²) + eps), the statistics in fp32, cast back before scaling."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotary_cos_sin(config: LLaDA2MoeConfig, position_ids: torch.Tensor, dtype: torch.dtype):
    """cos/sin [B, L, d_rot] with inv_freq_j = θ^(-2j/d_rot), d_rot = int(D · partial_rotary_factor).

    Computed from the config at every call (no buffer), so nothing depends on how
    ``from_pretrained`` materialises non-persistent buffers.
    """
    scaling = config.rope_scaling or {}
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"LLaDA2 config: rope_scaling type {rope_type!r} is not supported "
                         "(expected none / 'default')")
    dim = int(config.head_dim * config.partial_rotary_factor)
    inv_freq = 1.0 / (config.rope_theta ** (
        torch.arange(0, dim, 2, dtype=torch.int64, device=position_ids.device).float() / dim))
    freqs = position_ids[..., None].float() * inv_freq  # [B, L, d_rot/2]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_partial_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first d_rot dims of each head (half-split rotation), pass the rest through."""
    d = cos.shape[-1]
    rot, rest = x[..., :d], x[..., d:]
    half = d // 2
    rotated = torch.cat([-rot[..., half:], rot[..., :half]], dim=-1)
    return torch.cat([rot * cos[:, None] + rotated * sin[:, None], rest], dim=-1)


class LLaDA2MoeMLP(nn.Module):
    """SwiGLU: down(act(gate(x)) · up(x))."""

    def __init__(self, config: LLaDA2MoeConfig, intermediate_size: int):
        super().__init__()
        h = config.hidden_size
        self.gate_proj = nn.Linear(h, intermediate_size, bias=False)
        self.up_proj = nn.Linear(h, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, h, bias=False)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LLaDA2MoeGate(nn.Module):
    """Sigmoid router with a routing-only bias and group-limited top-k (see module docstring)."""

    def __init__(self, config: LLaDA2MoeConfig):
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.empty(config.num_experts, config.hidden_size))
        self.register_buffer("expert_bias", torch.zeros(config.num_experts))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h [N, H] -> (expert ids [N, k], fp32 weights [N, k])."""
        c = self.config
        scores = torch.sigmoid(F.linear(h.float(), self.weight.float()))  # [N, E]
        routing = scores + self.expert_bias
        n = routing.shape[0]
        grouped = routing.view(n, c.n_group, -1)
        group_score = grouped.topk(2, dim=-1).values.sum(-1)  # [N, G]
        groups = group_score.topk(c.topk_group, dim=-1, sorted=False).indices
        keep = torch.zeros_like(group_score, dtype=torch.bool).scatter_(1, groups, True)
        keep = keep[:, :, None].expand_as(grouped).reshape(n, -1)
        ids = routing.masked_fill(~keep, float("-inf")).topk(c.num_experts_per_tok, dim=-1).indices
        weights = scores.gather(1, ids)
        if c.num_experts_per_tok > 1:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        return ids, weights * c.routed_scaling_factor


class LLaDA2MoeSparseMoeBlock(nn.Module):
    """Routed experts + shared experts; y = Σ_k w_k · expert_{id_k}(h) + shared(h)."""

    def __init__(self, config: LLaDA2MoeConfig):
        super().__init__()
        self.experts = nn.ModuleList(
            [LLaDA2MoeMLP(config, config.moe_intermediate_size) for _ in range(config.num_experts)])
        self.gate = LLaDA2MoeGate(config)
        self.shared_experts = None
        if config.num_shared_experts is not None:
            self.shared_experts = LLaDA2MoeMLP(
                config, config.moe_intermediate_size * config.num_shared_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        h = x.reshape(-1, shape[-1])
        ids, weights = self.gate(h)
        out = torch.zeros(h.shape[0], ids.shape[1], shape[-1], dtype=torch.float32, device=h.device)
        for e in ids.unique().tolist():
            tok, slot = (ids == e).nonzero(as_tuple=True)
            # expert output in the model dtype, weighted and summed in fp32 (as published)
            out[tok, slot] = self.experts[e](h[tok]).float() * weights[tok, slot, None]
        y = out.sum(1).to(x.dtype).view(shape)
        if self.shared_experts is not None:
            y = y + self.shared_experts(x)
        return y


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """The caller's 4-D mask as an additive float mask (0 attend / finfo.min blocked), or None.

    Rows whose keys are all blocked (padding queries) become all-zero, i.e. attend to
    everything, so no NaN appears (those rows are never scored).
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() != 4:
        raise ValueError(
            f"LLaDA2 attention_mask: expected None or a 4-D [B, 1, Q, K] mask, found "
            f"{attention_mask.dim()}-D {tuple(attention_mask.shape)}; the published code makes a "
            "2-D mask causal, which a diffusion teacher must not be "
            "(build a 4-D one with tide.models.masks.bidirectional_mask)")
    neg = torch.finfo(dtype).min
    if attention_mask.dtype == torch.bool:
        keep = attention_mask
        m = torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill_(~keep, neg)
    else:
        keep = attention_mask > neg / 2
        m = attention_mask.to(dtype).clamp(min=neg)
    return m.masked_fill(~keep.any(-1, keepdim=True), 0.0)


class LLaDA2MoeAttention(nn.Module):
    """Fused-QKV grouped-query attention with q/k RMSNorm and partial rotary embedding."""

    def __init__(self, config: LLaDA2MoeConfig, layer_idx: int):
        super().__init__()
        self.config, self.layer_idx = config, layer_idx
        self.n_q, self.n_kv, self.d = (config.num_attention_heads, config.num_key_value_heads,
                                       config.head_dim)
        self.query_key_value = nn.Linear(config.hidden_size, (self.n_q + 2 * self.n_kv) * self.d,
                                         bias=config.use_qkv_bias)
        if config.use_qk_norm:
            self.query_layernorm = LLaDA2MoeRMSNorm(self.d, config.rms_norm_eps)
            self.key_layernorm = LLaDA2MoeRMSNorm(self.d, config.rms_norm_eps)
        self.dense = nn.Linear(self.n_q * self.d, config.hidden_size, bias=config.use_bias)

    def forward(self, x, mask, cos, sin, past_key_values=None):
        bsz, length, _ = x.shape
        qkv = self.query_key_value(x).view(bsz, length, self.n_q + 2 * self.n_kv, self.d)
        q, k, v = (t.transpose(1, 2) for t in qkv.split([self.n_q, self.n_kv, self.n_kv], dim=2))
        if self.config.use_qk_norm:
            q, k = self.query_layernorm(q), self.key_layernorm(k)
        q, k = apply_partial_rotary(q, cos, sin), apply_partial_rotary(k, cos, sin)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        rep = self.n_q // self.n_kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if mask is not None:
            mask = mask[..., : k.shape[-2]]
        if self.config._attn_implementation == "eager":
            scores = (q @ k.transpose(2, 3)) * self.d ** -0.5
            if mask is not None:
                scores = scores + mask
            out = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v
        else:  # sdpa
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False,
                                                 scale=self.d ** -0.5)
        return self.dense(out.transpose(1, 2).reshape(bsz, length, -1))


class LLaDA2MoeDecoderLayer(nn.Module):
    """h += attn(norm(h)); h += mlp(norm(h)) — dense MLP below first_k_dense_replace, MoE above."""

    def __init__(self, config: LLaDA2MoeConfig, layer_idx: int):
        super().__init__()
        self.attention = LLaDA2MoeAttention(config, layer_idx)
        moe = config.num_experts is not None and layer_idx >= config.first_k_dense_replace
        self.mlp = (LLaDA2MoeSparseMoeBlock(config) if moe
                    else LLaDA2MoeMLP(config, config.intermediate_size))
        self.input_layernorm = LLaDA2MoeRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = LLaDA2MoeRMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, h, mask, cos, sin, past_key_values=None):
        h = h + self.attention(self.input_layernorm(h), mask, cos, sin, past_key_values)
        return h + self.mlp(self.post_attention_layernorm(h))


class LLaDA2MoePreTrainedModel(PreTrainedModel):
    config_class = LLaDA2MoeConfig
    base_model_prefix = "model"
    _no_split_modules = ["LLaDA2MoeDecoderLayer"]
    _supports_sdpa = True
    _supports_attention_backend = False

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, LLaDA2MoeGate):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.expert_bias)


class LLaDA2MoeModel(LLaDA2MoePreTrainedModel):
    """Embeddings, decoder layers, final norm: hidden states [B, L, H]."""

    def __init__(self, config: LLaDA2MoeConfig):
        super().__init__(config)
        pad = config.pad_token_id
        pad = pad if pad is not None and 0 <= pad < config.vocab_size else None
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, pad)
        self.layers = nn.ModuleList(
            [LLaDA2MoeDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = LLaDA2MoeRMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.word_embeddings

    def set_input_embeddings(self, value):
        self.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, **kwargs) -> torch.Tensor:
        h = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        if position_ids is None:
            start = past_key_values.get_seq_length() if past_key_values is not None else 0
            position_ids = torch.arange(start, start + h.shape[1], device=h.device)[None]
        position_ids = position_ids.expand(h.shape[0], -1)
        cos, sin = rotary_cos_sin(self.config, position_ids, h.dtype)
        mask = additive_mask(attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, mask, cos, sin, past_key_values)
        return self.norm(h)


class LLaDA2MoeForCausalLM(LLaDA2MoePreTrainedModel):
    """LLaDA2-MoE with its LM head (the hub's ``LLaDA2MoeModelLM``); logits in fp32."""

    def __init__(self, config: LLaDA2MoeConfig):
        super().__init__(config)
        self.model = LLaDA2MoeModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self._tied_weights_keys = {"lm_head.weight": "model.word_embeddings.weight"}
        self.post_init()

    def get_input_embeddings(self):
        return self.model.word_embeddings

    def set_input_embeddings(self, value):
        self.model.word_embeddings = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                past_key_values=None, inputs_embeds=None, logits_to_keep=0,
                use_cache=None, **kwargs) -> CausalLMOutputWithPast:
        """``logits_to_keep``: an int n keeps the last n positions (0 = all) or an index tensor."""
        h = self.model(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=position_ids, past_key_values=past_key_values,
                       inputs_embeds=inputs_embeds)
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(h[:, keep]).float()
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values)


#: the hub's class name for the same model (``architectures`` in config.json)
LLaDA2MoeModelLM = LLaDA2MoeForCausalLM

AutoConfig.register(MODEL_TYPE, LLaDA2MoeConfig, exist_ok=True)
AutoModelForCausalLM.register(LLaDA2MoeConfig, LLaDA2MoeForCausalLM, exist_ok=True)
