"""Does the BD3LM sampler's layout, rather than the student, garble its answers?

    python benchmarks/diagnosis/decode_layout.py MODEL_DIR SAMPLES.jsonl
        [--order l2r|confidence] [--block-size 32] [--docs 40] [--new-tokens 64]

The protocol's sampler (tide/sample.py, dllm's) left-pads each prompt to a multiple of the
block size, so the answer starts on a fresh block and the prompt's blocks are cut where
training never cut them (training blocks start at position 0 and the answer shares the
prompt's last block). This script decodes the same prompts in the *training* layout
instead: one ``bd3lm_logits`` forward over [x_t ; x_0] per committed token, blocks
aligned at position 0, the answer's first tokens in the prompt's last block, one token
per step, either strictly left to right (``l2r``) or the most confident masked slot of the
current block (``confidence``, the protocol's rule). If the student answered well here
but not through the sampler, the layout would be what limits it.

SAMPLES.jsonl is an lm-eval samples file of a GSM8K-format evaluation (its ``arguments``
hold the exact prompts, chat template applied); an answer counts when the first number
after "answer is" equals the document's target. Prints a few answers and the count.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _prompt(sample: dict) -> str:
    args = sample["arguments"]
    return args[0][0] if isinstance(args, list) else args["gen_args_0"]["arg_0"]


@torch.inference_mode()
def decode(model, prompt: list[int], *, mask_id: int, eos: set[int], block: int,
           new_tokens: int, order: str) -> list[int]:
    """Greedy decoding in the training layout; returns the answer ids cut at eos."""
    from tide.models.student import bd3lm_logits

    p = len(prompt)
    length = -(-(p + new_tokens) // block) * block
    x = torch.full((1, length), mask_id, dtype=torch.long)
    x[0, :p] = torch.tensor(prompt)
    masked = torch.zeros(1, length, dtype=torch.bool)
    masked[0, p:] = True
    for b in range(p // block, length // block):
        lo, hi = b * block, (b + 1) * block
        while masked[0, lo:hi].any():
            # x_0 = x: the x_t block attends only to x_0 blocks before it (all committed)
            probs = torch.softmax(bd3lm_logits(model, x, x.clone(), block)[0, lo:hi], -1)
            conf, pred = probs.max(-1)
            still = masked[0, lo:hi]
            j = int(still.nonzero()[0]) if order == "l2r" else \
                int(torch.where(still, conf, torch.full_like(conf, -1.0)).argmax())
            x[0, lo + j], masked[0, lo + j] = pred[j], False
        if any(int(t) in eos for t in x[0, max(lo, p):hi]):
            break
    answer = x[0, p:].tolist()
    return answer[:next((i for i, t in enumerate(answer) if t in eos), len(answer))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("samples")
    ap.add_argument("--order", choices=("l2r", "confidence"), default="confidence")
    ap.add_argument("--block-size", type=int, default=None, help="default: the model's")
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--new-tokens", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from tide.eval.lm import TideBD3LM

    lm = TideBD3LM(args.model)
    block = args.block_size or lm.settings.block_size
    docs = [json.loads(line) for line in Path(args.samples).read_text().splitlines()][:args.docs]
    hits = 0
    for i, d in enumerate(docs):
        ids = decode(lm.model, lm._encode(_prompt(d)), mask_id=lm.mask_id, eos=lm.eos_ids,
                     block=block, new_tokens=args.new_tokens, order=args.order)
        text = lm.tokenizer.decode(ids, skip_special_tokens=True)
        got = re.findall(r"answer is \(?(-?\d+)", text)
        hit = bool(got) and got[0] == str(d["target"]).strip()
        hits += hit
        if i < 4:
            print(f"{text[:120]!r} | target {d['target']} | {'ok' if hit else 'wrong'}")
    print(f"training layout, {args.order}, block {block}: {hits}/{len(docs)} correct")


if __name__ == "__main__":
    main()
