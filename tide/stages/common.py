"""What the stages share: resolving tokenizers, mask ids, model pointers, stored rows and
a training rule's identity from the config and ``root`` (mirrors workflow/rules/common.smk)."""

from __future__ import annotations

import functools

from tide import paths
from tide.config import Config
from tide.io import read_json
from tide.vocab import TEACHER_TOKENIZER

SFT_KIND = {"student": "sft", "teacher_a": "sft_teacher_a", "teacher_b": "sft_teacher_b"}


def _dtype(name: str):
    import torch  # on use: the light stages (merge, scores, reports) never pay its import

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _device(cfg: Config) -> str:
    if cfg["device"] == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg["device"]


def tokenizer_path(cfg: Config, name: str, root=None) -> str:
    spec = cfg["tokenizers"][name]
    return str(paths.tokenizer(name, root)) if spec == "train" else spec


@functools.lru_cache(maxsize=None)
def _load_tok(path: str, revision: str | None = None):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, trust_remote_code=True, revision=revision)


def tokenizer(cfg: Config, name: str, root=None):
    from tide.hubcache import revision_of

    path = tokenizer_path(cfg, name, root)
    return _load_tok(path, revision_of(cfg, path))


def hub_pointer(cfg: Config, hub_id: str, kind: str = "model") -> dict:
    """The pointer of a model loaded by hub id: id, pinned revision and the commit the
    local cache resolves it to (recorded with every result downstream)."""
    from tide.hubcache import is_hub_id, local_dir, resolved_commit, revision_of

    rev = revision_of(cfg, hub_id)
    out = {"path": hub_id, "revision": rev}
    if is_hub_id(hub_id):
        try:
            out["resolved_commit"] = resolved_commit(local_dir(hub_id, rev, repo_type=kind))
        except FileNotFoundError:
            out["resolved_commit"] = None  # not cached here: from_pretrained downloads it
    return out


def shared_vocab_size(cfg: Config, root=None) -> int:
    if cfg["shared_vocab_size"] != "auto":
        return int(cfg["shared_vocab_size"])
    return int(read_json(paths.tokenizers_summary(root))["shared_vocab_size"])


def teacher_mask_id(cfg: Config, pipeline: str, root=None) -> int:
    spec = cfg["models"]["teachers"][pipeline]["mask_token_id"]
    if spec != "auto":
        return int(spec)
    tok = tokenizer(cfg, TEACHER_TOKENIZER[pipeline], root)
    if tok.mask_token_id is None:
        raise ValueError(f"{cfg.source}: field models.teachers.{pipeline}.mask_token_id is "
                         f"'auto' but tokenizer {tokenizer_path(cfg, TEACHER_TOKENIZER[pipeline], root)} "
                         "has no mask token; set the id explicitly")
    return int(tok.mask_token_id)


def student_tokens(tok) -> dict:
    if tok.mask_token_id is None or tok.eos_token_id is None:
        raise ValueError(f"student tokenizer {tok.name_or_path}: expected a mask and an eos "
                         f"token, found mask={tok.mask_token_id}, eos={tok.eos_token_id}")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return {"eos_id": tok.eos_token_id, "pad_id": pad}


def data_pointer(cfg: Config, pipeline: str) -> dict | None:
    """Hub id, pinned revision and resolved commit of a pipeline's pre-tokenized data."""
    if cfg["data"]["source"] != "pretokenized":
        return None
    return hub_pointer(cfg, cfg["data"]["pretokenized"][pipeline], "dataset")


def model_pointer(name: str, root=None) -> dict:
    return read_json(paths.model_metrics(name, root))


def _rows(kind: str, split: str, root=None):
    """Lazy rows of a built dataset (memory-mapped arrow, no Python copy per rank)."""
    from tide.data.rows import load_rows

    return load_rows(paths.dataset(kind, split, root))


def _identity(cfg: Config, rule: str, name: str, root=None) -> dict:
    """train() keywords keying the state by the run's identity (tide/identity.py)."""
    from tide import identity

    return {"identity": identity.of_stage(cfg, rule, name, root),
            "keep_stale": identity.keep_stale(cfg)}
