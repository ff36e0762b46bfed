"""Data stages (workflow/rules/data.smk): corpus, tokenizers, datasets, tiny eval items."""

from __future__ import annotations

from tide import paths
from tide.config import Config
from tide.io import atomic_dir, atomic_write_json
from tide.stages.common import SFT_KIND, shared_vocab_size, tokenizer, tokenizer_path
from tide.vocab import TEACHER_TOKENIZER


def corpus(cfg: Config, root=None) -> None:
    """Tiny path: the generated chat corpus (train/heldout, tulu ``messages`` schema)."""
    from tide.data.corpus import make_corpus, write_corpus

    if cfg["data"]["source"] == "tiny":
        t = cfg["data"]["tiny"]
        write_corpus(make_corpus(t["n_train"], t["n_heldout"], t["seed"]),
                     paths.corpus("train", root).parent)
        return
    from tide.data.corpus import write_jsonl
    from tide.data.loaders import load_sft_mixture

    ds = load_sft_mixture(cfg["data"]["sft_mixture"])
    split = ds.train_test_split(test_size=min(1000, max(1, len(ds) // 100)), seed=cfg["seed"])
    for name, part in (("train", split["train"]), ("heldout", split["test"])):
        write_jsonl(paths.corpus(name, root), ({"messages": r["messages"]} for r in part))


def tokenizers(cfg: Config, root=None) -> None:
    """Train the tiny tokenizers, or record the hub tokenizers' special ids."""
    from tide.data.corpus import read_jsonl
    from tide.data.tokenizers import summary, train_tokenizers

    if all(v == "train" for v in cfg["tokenizers"].values()):
        rows = read_jsonl(paths.corpus("train", root))
        train_tokenizers([r["messages"] for r in rows], paths.tokenizers_dir(root))
        return
    toks = {n: tokenizer(cfg, n, root) for n in cfg["tokenizers"]}
    atomic_write_json(paths.tokenizers_summary(root), summary(toks, shared_vocab_size(cfg)))


def dataset(cfg: Config, kind: str, split: str, root=None) -> None:
    """One dataset in the shared schema: ``sft*`` (one tokenizer) or pipeline ``A``/``B``."""
    from tide.data.build import build_pipeline_dataset, build_sft_dataset, save_dataset
    from tide.data.corpus import read_jsonl

    data = cfg["data"]
    out = paths.dataset(kind, split, root)
    if kind in ("A", "B") and data["source"] == "pretokenized":
        from tide.data.loaders import load_pretokenized
        from tide.hubcache import revision_of

        ds = load_pretokenized(data["pretokenized"][kind], kind,
                               revision=revision_of(cfg, data["pretokenized"][kind]),
                               limit=data.get("limit"),
                               split="train" if split == "train" else "test",
                               student_tok=tokenizer(cfg, "student", root),
                               teacher_tok=tokenizer(cfg, TEACHER_TOKENIZER[kind], root),
                               teacher_max_length=data["teacher_max_length"][kind])
        save_dataset(ds, out)
        return
    rows = [r["messages"] for r in read_jsonl(paths.corpus(split, root))]
    from tide.checks import require_chat_template

    names = (["student", TEACHER_TOKENIZER[kind]] if kind in ("A", "B")
             else [{v: k for k, v in SFT_KIND.items()}[kind]])
    for name in names:  # tokenizing chat data applies each model's own template
        require_chat_template(tokenizer(cfg, name, root), f"dataset {kind}/{split}",
                              tokenizer_path(cfg, name, root))
    if kind in ("A", "B"):
        ds = build_pipeline_dataset(rows, tokenizer(cfg, "student", root),
                                    tokenizer(cfg, TEACHER_TOKENIZER[kind], root), kind,
                                    max_length=data["max_length"],
                                    teacher_max_length=data["teacher_max_length"][kind])
    else:
        tok_name = {v: k for k, v in SFT_KIND.items()}[kind]
        max_len = (data["max_length"] if kind == "sft"
                   else data["teacher_max_length"]["A" if kind == "sft_teacher_a" else "B"])
        ds = build_sft_dataset(rows, tokenizer(cfg, tok_name, root), max_len)
    if len(ds) == 0:
        raise ValueError(f"dataset {kind}/{split}: no rows left after tokenization")
    save_dataset(ds, out)


def eval_data(cfg: Config, benchmark: str, root=None) -> None:
    """Tiny path: held-out benchmark items in the real datasets' schemas, one
    ``<task>.jsonl`` per lm-eval (sub)task, written as one directory (atomically)."""
    from tide.data.corpus import write_jsonl
    from tide.eval.tiny_data import tiny_items

    ev = cfg.tree.eval
    items = tiny_items(benchmark, ev.tiny_documents or ev.limit or 100, ev.seed)
    with atomic_dir(paths.eval_data(benchmark, root)) as tmp:
        for task, rows in items.items():
            write_jsonl(tmp / f"{task}.jsonl", rows)
