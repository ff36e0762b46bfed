"""Tiny model builders (from configs, no download) and loaders for real checkpoints.

The tiny default builds the same architectures the paper uses, just small: a Qwen3
decoder for the AR model and the student, a Qwen3-MoE for the LLaDA2.0-mini-like
teacher, a dense Qwen3 for the WeDLM-like teacher. On a cluster the same loaders take
hub ids (config/paper.yaml) and ``trust_remote_code`` where the authors' models need it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

from tide.models.masks import ALLOWED_ATTN_IMPLEMENTATIONS
from tide.models.student import A2DQwen3LMHeadModel  # noqa: F401  (registers a2d-qwen3)
from tide.models.teachers import Teacher

log = logging.getLogger(__name__)

_DENSE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "intermediate_size")
_MOE_KEYS = _DENSE_KEYS + ("num_experts", "num_experts_per_tok", "moe_intermediate_size")


def _common(vocab_size: int, dims: dict, max_positions: int, attn: str, tokens: dict) -> dict:
    # head_dim and tied embeddings may be given (the bench's paper shapes: Qwen3-0.6B has
    # head_dim 128 ≠ 1024/16); the tiny configs leave both to these defaults
    head_dim = dims.get("head_dim", dims["hidden_size"] // dims["num_attention_heads"])
    return dict(vocab_size=vocab_size, head_dim=head_dim, max_position_embeddings=max_positions,
                tie_word_embeddings=dims.get("tie_word_embeddings", True), rope_theta=10000.0,
                attn_implementation=attn, **tokens)


@contextlib.contextmanager
def init_on(device: torch.device | str, dtype: torch.dtype) -> Iterator[None]:
    """Models built inside are initialised on ``device`` in ``dtype`` (a 16B model's fp32
    copy on the CPU would not fit)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(old)


def build_dense(vocab_size: int, dims: dict, *, max_positions: int = 1024,
                attn_implementation: str = "sdpa", seed: int = 0, **tokens) -> Qwen3ForCausalLM:
    """A small Qwen3 decoder (AR model, WeDLM-like teacher)."""
    missing = [k for k in _DENSE_KEYS if k not in dims]
    if missing:
        raise ValueError(f"model dims: missing {missing}; expected keys {list(_DENSE_KEYS)}")
    torch.manual_seed(seed)
    cfg = Qwen3Config(**{k: dims[k] for k in _DENSE_KEYS},
                      **_common(vocab_size, dims, max_positions, attn_implementation, tokens))
    return Qwen3ForCausalLM(cfg)


def dense_from_causal(causal, source_tok, target_tok, *, max_positions: int | None = None,
                      attn_implementation: str = "sdpa", **tokens) -> Qwen3ForCausalLM:
    """A dense Qwen3 with ``causal``'s weights over ``target_tok``'s vocabulary.

    How a teacher that shares the student's tokenizer inherits an AR model (WeDLM-8B is
    Qwen3-8B's weights with WeDLM's own special tokens): every layer is copied; an
    embedding row is copied where the token's string exists in ``source_tok`` (the
    vocabulary ``causal`` was trained with), and a token it lacks (the target's own
    specials, e.g. its mask) starts at the mean of the copied rows. The LM head follows
    the same rule, or is the embedding when tied. Every weight is overwritten, so no seed.
    """
    src_cfg = causal.config
    dims = {k: getattr(src_cfg, k) for k in _DENSE_KEYS}
    dims.update(head_dim=src_cfg.head_dim, tie_word_embeddings=src_cfg.tie_word_embeddings)
    model = build_dense(len(target_tok), dims,
                        max_positions=max_positions or src_cfg.max_position_embeddings,
                        attn_implementation=attn_implementation, **tokens)
    state = {k: v for k, v in causal.state_dict().items()
             if not k.startswith(("model.embed_tokens.", "lm_head."))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith(("model.embed_tokens.", "lm_head."))]:
        raise ValueError(f"dense_from_causal: missing {missing}, unexpected {unexpected}")
    src_vocab = source_tok.get_vocab()
    # sorted: get_vocab() comes in a different order on every call, and the mean row must
    # not depend on the summation order
    pairs = sorted((i, src_vocab[t]) for t, i in target_tok.get_vocab().items() if t in src_vocab)
    if not pairs:
        raise ValueError("dense_from_causal: the two tokenizers share no token")
    dst, src = (torch.tensor(x) for x in zip(*pairs))
    with torch.no_grad():
        heads = [(model.get_input_embeddings().weight, causal.get_input_embeddings().weight)]
        if not src_cfg.tie_word_embeddings:
            heads.append((model.get_output_embeddings().weight,
                          causal.get_output_embeddings().weight))
        for new, old in heads:
            new.copy_(old[src].mean(0).expand_as(new))
            new[dst] = old[src]
    return model


def build_moe(vocab_size: int, dims: dict, *, max_positions: int = 1024,
              attn_implementation: str = "sdpa", seed: int = 0, **tokens) -> Qwen3MoeForCausalLM:
    """A small Qwen3-MoE (the LLaDA2.0-mini-like teacher: a mixture of experts)."""
    missing = [k for k in _MOE_KEYS if k not in dims]
    if missing:
        raise ValueError(f"model dims: missing {missing}; expected keys {list(_MOE_KEYS)}")
    torch.manual_seed(seed)
    cfg = Qwen3MoeConfig(**{k: dims[k] for k in _MOE_KEYS}, decoder_sparse_step=1,
                         **_common(vocab_size, dims, max_positions, attn_implementation, tokens))
    return Qwen3MoeForCausalLM(cfg)


def _check_attn(attn: str) -> None:
    if attn not in ALLOWED_ATTN_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation: expected one of {ALLOWED_ATTN_IMPLEMENTATIONS}, "
                         f"found {attn!r}")


def placement(device: str) -> dict:
    """``from_pretrained`` arguments that load weights straight onto ``device``.

    transformers builds the model on the meta device and, with a ``device_map``, copies each
    tensor from the memory-mapped safetensors to the accelerator: no rank holds a full host
    copy of the teacher (8 ranks × 30 GiB for LLaDA2.0-mini against a 250 GB job) before
    ``.to(device)``. On the CPU the memory-mapped load is already the only copy.
    """
    if str(device).startswith("cpu"):
        return {}
    return {"device_map": {"": str(device)}}


#: dllm's BD3LM block size (its trainer and sampler default; the released configs store none)
DEFAULT_BLOCK_SIZE = 32


def mask_id_from_tokenizer(tok) -> int | None:
    """The tokenizer's mask token id: its declared ``mask_token_id``, else ``<|mask|>``."""
    if tok is None:
        return None
    if getattr(tok, "mask_token_id", None) is not None:
        return int(tok.mask_token_id)
    mask_id = tok.get_vocab().get("<|mask|>")
    return None if mask_id is None else int(mask_id)


def load_student(path: str, *, tokenizer=None, dtype: torch.dtype = torch.float32,
                 attn_implementation: str = "sdpa", device: str = "cpu",
                 revision: str | None = None):
    """Load a BD3LM student saved as ``a2d-qwen3`` (ours or a released checkpoint).

    The released ``dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1`` config has neither
    ``mask_token_id`` nor ``block_size``: the mask id then comes from ``tokenizer`` (a
    tokenizer or its path: ``mask_token_id`` or ``<|mask|>``, 151669 for the real one), as
    the evaluation loader does; the block size falls back to 32, dllm's default (its trainer
    and sampler take the block size as an argument, never from the model config).
    """
    from tide.hubcache import refuse_standin

    _check_attn(attn_implementation)
    refuse_standin(path, revision)
    model = AutoModelForMaskedLM.from_pretrained(
        path, revision=revision, dtype=dtype, attn_implementation=attn_implementation,
        trust_remote_code=True, **placement(device))
    if getattr(model.config, "mask_token_id", None) is None:
        tok = tokenizer
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(tokenizer, revision=revision)
        mask_id = mask_id_from_tokenizer(tok)
        if mask_id is None:
            where = f"tokenizer {getattr(tok, 'name_or_path', tokenizer)!r} has no <|mask|> token" \
                if tok is not None else "no tokenizer was given to read <|mask|> from"
            raise ValueError(f"student checkpoint {path!r}: config.json has no field "
                             f"mask_token_id and {where}; a BD3LM student needs a mask id")
        model.config.mask_token_id = mask_id
        log.info("student %s: mask_token_id %d from its tokenizer (config has none)", path, mask_id)
    if getattr(model.config, "block_size", None) is None:
        model.config.block_size = DEFAULT_BLOCK_SIZE
        log.info("student %s: block_size %d (dllm default; config has none)", path,
                 DEFAULT_BLOCK_SIZE)
    return model.to(device)


def load_teacher_model(path: str, *, revision: str | None = None,
                       dtype: torch.dtype = torch.float32, attn_implementation: str = "sdpa",
                       device: str = "cpu"):
    """The teacher's network (tiny local dir or hub id), frozen later by :class:`Teacher`.

    Neither paper teacher's remote code runs under transformers 5, so neither is executed:
    a LLaDA2 checkpoint (``model_type: llada2_moe``) loads through the package's native
    :class:`tide.models.llada2.LLaDA2MoeForCausalLM`, a WeDLM one (``model_type: wedlm``)
    as transformers' ``Qwen3ForCausalLM`` with a translated config (tide/models/wedlm.py).
    Other model types go through ``AutoModelForCausalLM`` (native transformers classes, or
    the checkpoint's own ``auto_map`` code).
    """
    _check_attn(attn_implementation)
    from transformers import PretrainedConfig

    from tide.models import wedlm
    from tide.models.llada2 import MODEL_TYPE as LLADA2, LLaDA2MoeForCausalLM

    kwargs = dict(revision=revision, dtype=dtype, attn_implementation=attn_implementation,
                  **placement(device))
    raw, _ = PretrainedConfig.get_config_dict(path, revision=revision)
    model_type = raw.get("model_type")
    if model_type == LLADA2:
        return LLaDA2MoeForCausalLM.from_pretrained(path, **kwargs)
    if model_type == wedlm.MODEL_TYPE:
        return Qwen3ForCausalLM.from_pretrained(path, config=wedlm.qwen3_config(raw, path),
                                                **kwargs)
    if model_type is None:
        raise ValueError(f"teacher {path}: config.json has no field model_type")
    return AutoModelForCausalLM.from_pretrained(path, trust_remote_code=True, **kwargs)


def load_teacher(path: str, *, kind: str, mask_token_id: int, block_size: int = 32,
                 concat_order: str = "x0_xt", dtype: torch.dtype = torch.float32,
                 attn_implementation: str = "sdpa", device: str = "cpu",
                 revision: str | None = None) -> Teacher:
    """Load a frozen teacher (tiny local dir or hub id) behind the ``Teacher`` adapter."""
    from tide.hubcache import refuse_standin

    refuse_standin(path, revision)
    model = load_teacher_model(path, revision=revision, dtype=dtype,
                               attn_implementation=attn_implementation, device=device)
    if not 0 <= mask_token_id < model.config.vocab_size:
        raise ValueError(f"teacher {path}: mask_token_id {mask_token_id} outside its vocabulary "
                         f"of {model.config.vocab_size}")
    return Teacher(model.to(device), kind=kind, mask_token_id=mask_token_id,
                   block_size=block_size, concat_order=concat_order)
