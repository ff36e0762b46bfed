"""How often a generation's tokens change with its batch, fp32 vs bf16 (issue 14, item 8).

Tiny random BD3LM student (tests/test_sampler.py), 16 chat prompts of different lengths,
32 new tokens in blocks of 8, greedy; each prompt alone (batch 1) vs in batches of 4 and 16.
Run from the repo root: ``PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/bf16_batch_invariance.py``.
Measured on 2 CPU cores (issue 14): fp32 16/16 identical at batch 4 and 16; bf16 14/16 at
batch 4, 16/16 at batch 16. Not measured on the real student or a GPU.
"""

import sys

import torch

sys.path.insert(0, "tests")
from test_sampler import chat_prompt, make_student, make_tokenizer  # noqa: E402

from tide.sample import SamplerSettings, generate  # noqa: E402

torch.set_num_threads(1)
tok = make_tokenizer()
texts = [f"What is {i} plus {2 * i}? Think about apples and pears." * (1 + i % 3) for i in range(16)]
prompts = [chat_prompt(tok, t) for t in texts]
eos = {tok.convert_tokens_to_ids("<|im_end|>")}
kw = dict(mask_id=tok.mask_token_id, pad_id=tok.pad_token_id, eos_ids=eos)
for dtype in (torch.float32, torch.bfloat16):
    model = make_student(tok, block_size=8).to(dtype)
    settings = SamplerSettings(max_new_tokens=32, steps=32, block_size=8)
    alone = [generate(model, [p], settings, **kw)[0] for p in prompts]
    for bs in (4, 16):
        batched = [row for i in range(0, 16, bs) for row in generate(model, prompts[i:i + bs], settings, **kw)]
        same = sum(a == b for a, b in zip(alone, batched))
        print(f"{dtype} batch {bs} vs 1: {same}/16 generations identical")
