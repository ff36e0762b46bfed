"""Data: tiny corpus, tokenizers + chat templates, dataset building, real-data loaders.

* :mod:`tide.data.corpus` — deterministic tiny chat corpus and benchmark-schema items.
* :mod:`tide.data.tokenizers` — student / teacher_a / teacher_b tokenizer training.
* :mod:`tide.data.build` — chat rows -> the authors' pre-tokenized schema (+ ``chunks``).
* :mod:`tide.data.loaders` — raw SFT mixture and the authors' pre-tokenized datasets.

Submodules are imported on use (``from tide.data.build import ...``) so that importing
the package stays cheap.
"""
