"""What a stage needs from a hub checkpoint's tokenizer, checked before the stage runs.

A checkpoint whose tokenizer lacks a chat template, a ``<|mask|>`` token or the configured
mask id would otherwise fail deep inside lm-eval or a training step, or silently produce
something else. Each check raises a ``ValueError`` naming the stage, the checkpoint (hub id
or path) and the missing field.
"""

from __future__ import annotations


def _name(tok, where: str | None) -> str:
    return where or getattr(tok, "name_or_path", "?")


def require_chat_template(tok, stage: str, where: str | None = None) -> None:
    """The stage applies the checkpoint's chat template (evaluation, tokenizing chat data)."""
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{stage}: checkpoint {_name(tok, where)}: tokenizer field "
                         "chat_template is missing (tokenizer_config.json / chat_template.jinja); "
                         "the stage applies the model's own chat template")


def require_mask_token(tok, stage: str, where: str | None = None) -> int:
    """The student's mask id: the tokenizer's mask token or ``<|mask|>``."""
    mask_id = getattr(tok, "mask_token_id", None)
    if mask_id is None:
        mask_id = tok.get_vocab().get("<|mask|>")
    if mask_id is None:
        raise ValueError(f"{stage}: checkpoint {_name(tok, where)}: tokenizer has no mask token "
                         "(field mask_token / token <|mask|>); a BD3LM student needs one")
    return int(mask_id)


def require_token_id(tok, token_id: int, field: str, stage: str, where: str | None = None) -> None:
    """A configured special id (e.g. the teacher's mask id) exists in the tokenizer."""
    size = len(tok)
    if not 0 <= int(token_id) < size or tok.convert_ids_to_tokens(int(token_id)) is None:
        raise ValueError(f"{stage}: checkpoint {_name(tok, where)}: {field} {token_id} is not a "
                         f"token of its tokenizer ({size} tokens)")
