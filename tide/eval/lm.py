"""lm-eval model class for the BD3LM student, registered as ``tide_bd3lm`` (docs/method.md §E3).

- ``generate_until``: the block-diffusion sampler of §E2 (``tide.sample``); only ``until`` of
  the task's gen_kwargs is used (post-hoc cut), length/steps/block come from model_args,
  exactly like dllm's harness. Requests run in their given order, in fixed-size batches.
- ``loglikelihood``: the BD3LM estimator of §E3 (not in dllm): x_0 = context+continuation in
  blocks aligned at 0, exactly c_i continuation tokens masked per Monte-Carlo row
  (LLaDA's stratified counts), the training [x_t ; x_0] forward, NLL weighted by M/c_i.
  Each request is scored on its own with a generator seeded from a stable hash of
  (seed, context, continuation), so results never depend on batch composition or order.
- ``loglikelihood_rolling`` is not implemented.

Import this module before lm-eval resolves model names; it imports ``lm_eval.models`` first
so registering does not hide the built-in models (docs/method.md §P3).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict

import lm_eval.models  # noqa: F401  (populate the registry before register_model: docs/method.md §P3)
import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from tide.likelihood import bd3lm_loglikelihood
from tide.sample import SamplerSettings, generate, trim_and_decode

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
          "float64": torch.float64}
EOT_TOKENS = ("<|im_end|>",)  # eot of the Qwen3 chat format, besides the tokenizer's eos
#: the empty thinking block the authors' harness appends to any prompt lacking it
#: (dllm/core/eval/base.py, INJECT_THINK=1 by default): the released checkpoints' own chat
#: templates may ignore ``enable_thinking``
THINK_PREFIX = "<think>\n\n</think>\n\n"
_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", flags=re.DOTALL)


def inject_think(context: str, enabled: bool = True) -> str:
    """``context + THINK_PREFIX`` unless the prefix already occurs in it (authors' rule: a
    gen_prefix task such as HumanEval continues after the think block, so ``in``, not
    ``endswith``)."""
    return context if not enabled or THINK_PREFIX in context else context + THINK_PREFIX


def strip_think(text: str) -> str:
    """Remove every ``<think>…</think>`` block and the whitespace after it (authors' rule)."""
    return _THINK_BLOCK.sub("", text)


def finish_answer(raw: str, until: list[str]) -> str:
    """The answer lm-eval scores: think blocks stripped, then cut at the first stop string
    (the authors' order: strip first, so a stop string inside a think block does not cut)."""
    return cut_at_stop(strip_think(raw), until)


def qwen_chat(tokenizer, chat_history: list[dict[str, str]], add_generation_prompt: bool = True,
              source: str = "") -> str:
    """The tokenizer's chat template, thinking off (docs/method.md §E1); shared by the generating model
    and the scoring replay (tide.eval.staged), so both build the same prompts."""
    if not tokenizer.chat_template:
        raise ValueError(f"{source or tokenizer.name_or_path}: tokenizer has no chat_template; "
                         "the protocol applies one (docs/method.md §E4)")
    return tokenizer.apply_chat_template(
        chat_history, tokenize=False, add_generation_prompt=add_generation_prompt,
        continue_final_message=not add_generation_prompt, enable_thinking=False)


def request_seed(seed: int, context: str, continuation: str) -> int:
    """Stable per-request seed (sha256; Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"{seed}\x00{context}\x00{continuation}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def load_checkpoint(pretrained: str, *, tokenizer: str, dtype: torch.dtype,
                    attn_implementation: str, device: str, revision: str | None = None):
    """(tokenizer, model) of a BD3LM student: ours, or a released checkpoint (docs/method.md §E1, §E3).

    The released ``a2d-qwen3`` checkpoints store a plain Qwen3 config (model_type
    ``a2d-qwen3``, no block size, no mask id) + weights; the mask id is then read from the
    tokenizer's ``<|mask|>`` (models.md). Anything that does not load stops here with an
    error naming the checkpoint.
    """
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import tide.models.student  # noqa: F401  (registers a2d-qwen3 with the Auto classes)
    from tide.models.masks import ALLOWED_ATTN_IMPLEMENTATIONS

    if attn_implementation not in ALLOWED_ATTN_IMPLEMENTATIONS:
        raise ValueError(f"tide_bd3lm model_args.attn_implementation: expected one of "
                         f"{ALLOWED_ATTN_IMPLEMENTATIONS}, found {attn_implementation!r}")
    from tide.hubcache import refuse_standin

    refuse_standin(pretrained, revision)
    tok_rev = revision if tokenizer == pretrained else None
    try:
        tok = AutoTokenizer.from_pretrained(tokenizer, revision=tok_rev, trust_remote_code=True)
        model = AutoModelForMaskedLM.from_pretrained(
            pretrained, dtype=dtype, attn_implementation=attn_implementation,
            trust_remote_code=True, revision=revision)
    except Exception as exc:  # noqa: BLE001  (any loading failure: name the checkpoint)
        raise ValueError(f"tide_bd3lm: checkpoint {pretrained!r} does not load as a BD3LM "
                         f"student ({type(exc).__name__}: {exc})") from exc
    if getattr(model.config, "mask_token_id", None) is None:
        from tide.models.build import mask_id_from_tokenizer

        mask_id = mask_id_from_tokenizer(tok)
        if mask_id is None:
            raise ValueError(f"tide_bd3lm: checkpoint {pretrained!r}: config.json has no "
                             f"mask_token_id and tokenizer {tokenizer!r} no <|mask|> token")
        model.config.mask_token_id = int(mask_id)
    return tok, model.to(device).eval()


def _bool(name: str, value) -> bool:
    """model_args booleans arrive as strings from the CLI ("True", "false", "1")."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"tide_bd3lm model_args.{name}: expected a boolean, found {value!r}")


def _int(name: str, value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"tide_bd3lm model_args.{name}: expected an int, found {value!r}") from None


@register_model("tide_bd3lm")
class TideBD3LM(LM):
    """The BD3LM student behind lm-eval's LM interface (docs/method.md §E3). kwargs come from model_args."""

    def __init__(self, pretrained: str, max_new_tokens=128, steps=128, block_size=None,
                 temperature=0.0, cfg_scale=0.0, remasking="low_confidence", batch_size=1,
                 max_batch_size=None, device="cpu", dtype="float32", attn_implementation="sdpa",
                 mc_num=128, mc_batch_size=None, seed=1234, tokenizer=None, inject_think=True,
                 generated_pad_as_padding=True, revision=None, **unknown):
        super().__init__()
        if unknown:
            raise ValueError(f"tide_bd3lm model_args: unknown keys {sorted(unknown)}; expected "
                             "pretrained, max_new_tokens, steps, block_size, temperature, "
                             "cfg_scale, remasking, batch_size, device, dtype, "
                             "attn_implementation, mc_num, mc_batch_size, seed, tokenizer, "
                             "inject_think, generated_pad_as_padding, revision")
        if str(dtype) not in DTYPES:
            raise ValueError(f"tide_bd3lm model_args.dtype: expected one of {sorted(DTYPES)}, "
                             f"found {dtype!r}")
        self.pretrained, self._device = str(pretrained), str(device or "cpu")
        self.tokenizer, self.model = load_checkpoint(
            self.pretrained, tokenizer=str(tokenizer or pretrained), dtype=DTYPES[str(dtype)],
            attn_implementation=str(attn_implementation), device=self._device,
            revision=str(revision) if revision not in (None, "", "None") else None)
        block = (getattr(self.model.config, "block_size", None) or 32) if block_size in (None, "") \
            else _int("block_size", block_size)
        self.settings = SamplerSettings(
            max_new_tokens=_int("max_new_tokens", max_new_tokens), steps=_int("steps", steps),
            block_size=block, temperature=float(temperature), remasking=str(remasking),
            cfg_scale=float(cfg_scale),
            generated_pad_as_padding=_bool("generated_pad_as_padding", generated_pad_as_padding))
        self.inject_think = _bool("inject_think", inject_think)
        self.batch_size = _int("batch_size", 1 if batch_size in (None, "") else batch_size)
        self.mc_num = _int("mc_num", mc_num)
        self.mc_batch_size = min(self.mc_num, _int("mc_batch_size", mc_batch_size or 8))
        self.seed = _int("seed", seed)
        self.attn_implementation, self.dtype_name = str(attn_implementation), str(dtype)
        self.mask_id = self.model.config.mask_token_id
        self.pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                       else self.tokenizer.eos_token_id)
        self.eos_ids = self._eos_ids()
        self.last_generated_ids: list[list[int]] = []  # ids of the last generate_until call
        self.last_raw_texts: list[str] = []  # their decoded text before think-strip and cut
        log.info("tide_bd3lm: %s, sampler %s, batch %d", self.pretrained, self.settings,
                 self.batch_size)

    # ------------------------------------------------------------ lm-eval plumbing

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id} - {None}
        vocab = self.tokenizer.get_vocab()
        ids |= {vocab[t] for t in EOT_TOKENS if t in vocab}
        if not ids:
            raise ValueError(f"{self.pretrained}: tokenizer has no eos token and no "
                             f"{EOT_TOKENS}; the sampler needs one to stop")
        return ids

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        return self.tokenizer.chat_template or ""

    def apply_chat_template(self, chat_history: list[dict[str, str]],
                            add_generation_prompt: bool = True) -> str:
        """The student's own template (Qwen3's, thinking off: an empty think block, §E1)."""
        return qwen_chat(self.tokenizer, chat_history, add_generation_prompt, self.pretrained)

    def get_model_info(self) -> dict:
        return {"sampler": asdict(self.settings), "batch_size": self.batch_size,
                "mc_num": self.mc_num,
                "mc_batch_size": self.mc_batch_size, "seed": self.seed,
                "inject_think": self.inject_think,
                "attn_implementation": self.attn_implementation, "dtype": self.dtype_name,
                "pretrained": self.pretrained}

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # ------------------------------------------------------------ requests

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Sampler of §E2 on chat-formatted contexts; think blocks stripped, then cut at ``until``.

        Contexts lacking the empty think block get it appended (``inject_think``, authors'
        harness). At temperature 0 requests run longest prompt first, so a batch wastes
        little left padding; each row's tokens do not depend on its batch in fp32
        (tests/test_eval.py), so the order changes no result. In bf16 the batch can change
        tokens (docs/architecture.md "Throughput"). Outputs are returned in request order.
        """
        n = len(requests)
        out: list[str | None] = [None] * n
        self.last_generated_ids = [[] for _ in range(n)]
        self.last_raw_texts = [""] * n
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        prompts = [self._encode(inject_think(r.args[0], self.inject_think)) for r in requests]
        order = list(range(n))
        if self.settings.temperature == 0:  # draws no random numbers: order-free
            order.sort(key=lambda i: -len(prompts[i]))
        bar = tqdm(total=n, desc="tide_bd3lm generate", disable=disable_tqdm)
        for start in range(0, n, self.batch_size):
            chunk = order[start:start + self.batch_size]
            ids = generate(self.model, [prompts[i] for i in chunk], self.settings,
                           mask_id=self.mask_id, pad_id=self.pad_id, eos_ids=self.eos_ids,
                           generator=gen)
            for i, row in zip(chunk, ids):
                raw = trim_and_decode(self.tokenizer, row)
                text = finish_answer(raw, _until(requests[i].args[1]))
                self.last_generated_ids[i], self.last_raw_texts[i] = list(row), raw
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
                out[i] = text
            bar.update(len(chunk))
        bar.close()
        return out

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context/continuation ids as lm-eval's HFLM splits them (trailing spaces move over)."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            continuation, context = context[-n_spaces:] + continuation, context[:-n_spaces]
        whole = self._encode(context + continuation)
        ctx = self._encode(context)
        return whole[:len(ctx)], whole[len(ctx):]

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """BD3LM Monte-Carlo log-likelihood per request (§E3); is_greedy is always False."""
        out = []
        for req in tqdm(requests, desc="tide_bd3lm loglikelihood", disable=disable_tqdm):
            context, continuation = req.args
            ctx, cont = self._encode_pair(context, continuation)
            gen = torch.Generator(device="cpu").manual_seed(
                request_seed(self.seed, context, continuation))
            ll = bd3lm_loglikelihood(self.model, ctx, cont, mask_id=self.mask_id,
                                     block_size=self.settings.block_size, mc_num=self.mc_num,
                                     mc_batch_size=self.mc_batch_size, generator=gen)
            self.cache_hook.add_partial("loglikelihood", req.args, (ll, False))
            out.append((ll, False))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(
            "tide_bd3lm: loglikelihood_rolling (perplexity tasks) is not implemented; the "
            "protocol (docs/method.md §E4) uses generative tasks and conditional loglikelihood only")


def _until(gen_kwargs) -> list[str]:
    until = (gen_kwargs or {}).get("until") or []
    return [until] if isinstance(until, str) else list(until)


def cut_at_stop(text: str, until: list[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string (post hoc, as dllm)."""
    cut = min((i for i in (text.find(s) for s in until if s) if i >= 0), default=len(text))
    return text[:cut]
