"""Monte-Carlo likelihood batched across samples *and* requests, and its measurement.

Two fast paths beside the evaluation's loop: rows of many requests packed into one forward
(:func:`batched_loglikelihood`), and the rows of one request sharing its clean x_0 half
(:func:`shared_x0_loglikelihood`).

The evaluation's estimator (tide/likelihood.py ``bd3lm_loglikelihood``,
docs/method.md §E3) runs one request at a time, ``mc_batch_size`` Monte-Carlo rows per
forward. Here every row of every request is drawn first — through the same ``draw_rows``,
with each request's own generator, so the masks and therefore the estimates are the same
(tests/test_bench.py) — then rows are sorted by length and packed ``rows_per_forward`` to a
forward, right-padded, with padding excluded as keys.

Imports only torch (and the student's BD3LM forward).
"""

from __future__ import annotations

import logging

import torch

from tide.bench import common
from tide.bench.shapes import build, shape_name
from tide.distill.noise import token_ce
from tide.likelihood import draw_rows
from tide.models.student import bd3lm_logits

log = logging.getLogger(__name__)


@torch.no_grad()
def batched_loglikelihood(model, requests: list[tuple[list[int], list[int]]],
                          generators: list[torch.Generator], *, mask_id: int, block_size: int,
                          mc_num: int, mc_batch_size: int, rows_per_forward: int) -> list[float]:
    """log p(continuation | context) per request: −mean over its rows of Σ_masked CE·M/c."""
    device = next(model.parameters()).device
    rows = []  # (request index, ids, masked positions, weight)
    for r, ((ctx, cont), gen) in enumerate(zip(requests, generators)):
        rows += [(r, *x) for x in draw_rows(ctx, cont, mc_num=mc_num, mc_batch_size=mc_batch_size,
                                            generator=gen)]
    totals = [0.0] * len(requests)
    counts = [0] * len(requests)
    rows.sort(key=lambda x: len(x[1]))  # similar lengths share a forward: little padding
    for start in range(0, len(rows), rows_per_forward):
        chunk = rows[start:start + rows_per_forward]
        width = max(len(x[1]) for x in chunk)
        x0 = torch.zeros(len(chunk), width, dtype=torch.long)
        valid = torch.zeros(len(chunk), width, dtype=torch.bool)
        masked = torch.zeros(len(chunk), width, dtype=torch.bool)
        for i, (_, ids, pos, _) in enumerate(chunk):
            x0[i, :len(ids)] = torch.tensor(ids)
            valid[i, :len(ids)] = True
            masked[i, pos] = True
        x0, valid, masked = x0.to(device), valid.to(device), masked.to(device)
        x_t = x0.masked_fill(masked, mask_id)
        logits = bd3lm_logits(model, x_t, x0, block_size, key_valid=valid)  # [b, W, V]
        ce = token_ce(logits, x0)  # [b, W]
        weight = torch.tensor([x[3] for x in chunk], dtype=torch.float64, device=device)
        per_row = ((ce.double() * masked).sum(1) * weight).tolist()
        for (r, *_), v in zip(chunk, per_row):
            totals[r] += v
            counts[r] += 1
    return [-t / c for t, c in zip(totals, counts)]


@torch.no_grad()
def shared_x0_loglikelihood(model, requests: list[tuple[list[int], list[int]]],
                            generators: list[torch.Generator], *, mask_id: int, block_size: int,
                            mc_num: int, mc_batch_size: int, rows_per_forward: int) -> list[float]:
    """The same estimate, with the Monte-Carlo rows of a request sharing its clean x_0 half.

    Every row of one request has the same x_0 (only x_t differs), and x_0 attends only to
    itself: run it once per ``rows_per_forward`` rows (:class:`BD3LMCleanPrefix`) and only the
    x_t halves per row — L + rows·L positions instead of rows·2L.
    """
    from tide.models.student import BD3LMCleanPrefix

    device = next(model.parameters()).device
    out = []
    for (ctx, cont), gen in zip(requests, generators):
        rows = draw_rows(ctx, cont, mc_num=mc_num, mc_batch_size=mc_batch_size, generator=gen)
        x0 = torch.tensor(ctx + cont, dtype=torch.long, device=device)[None]  # [1, L]
        total = 0.0
        for start in range(0, len(rows), rows_per_forward):
            chunk = rows[start:start + rows_per_forward]
            masked = torch.zeros(len(chunk), x0.shape[1], dtype=torch.bool)
            for i, (_, pos, _) in enumerate(chunk):
                masked[i, pos] = True
            masked = masked.to(device)
            prefix = BD3LMCleanPrefix(model, x0, block_size, rows=len(chunk))
            logits = prefix.logits(x0.expand(len(chunk), -1).masked_fill(masked, mask_id))
            ce = token_ce(logits, x0.expand(len(chunk), -1))  # [b, L]
            weight = torch.tensor([w for *_, w in chunk], dtype=torch.float64, device=device)
            total += float(((ce.double() * masked).sum(1) * weight).sum())
        out.append(-total / len(rows))
    return out


def fit_rows_per_forward(rows: int, width: int, vocab: int, logits_bytes: int,
                         budget: float) -> int:
    """Largest row count ≤ ``rows`` whose logits fit ``budget`` bytes: each row holds
    ``width`` × ``vocab`` logits in the model dtype plus two fp32 copies (the CE's upcast
    and its log-softmax). At 512 rows × 288 positions × 152k vocabulary that is 42 GiB of
    bf16 logits alone — out of memory on any GPU without this cap."""
    per_row = width * vocab * (logits_bytes + 4 + 4)
    if budget == float("inf"):
        return rows
    return max(1, min(rows, int(budget // per_row)))


def eval_likelihood(cfg) -> dict:
    sizes = cfg.sizes["eval"]
    model = build(cfg.preset, "student", device=cfg.device, dtype=cfg.dtype)
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    requests = []
    for i in range(sizes["requests"]):
        c_len = sizes["context"][0] + i % (sizes["context"][1] - sizes["context"][0] + 1)
        m_len = sizes["continuation"][0] + (7 * i) % (sizes["continuation"][1] - sizes["continuation"][0] + 1)
        ids = torch.randint(2, vocab - 1, (c_len + m_len,), generator=g).tolist()
        requests.append((ids[:c_len], ids[c_len:]))
    mc_num, mc_b = sizes["mc_num"], sizes["mc_batch"]
    positions = sum(2 * (len(a) + len(b)) for a, b in requests) * mc_num  # x_t + x_0 forwards

    def run(rows_per_forward: int, per_request: bool | str):
        def gens():
            return [torch.Generator().manual_seed(1000 + i) for i in range(len(requests))]
        if per_request == "shared_x0":
            return shared_x0_loglikelihood(model, requests, gens(), mask_id=vocab - 1,
                                           block_size=sizes["block"], mc_num=mc_num,
                                           mc_batch_size=mc_b, rows_per_forward=rows_per_forward)
        if per_request:  # the evaluation's way: one request at a time
            return [batched_loglikelihood(model, [req], [gen], mask_id=vocab - 1,
                                          block_size=sizes["block"], mc_num=mc_num,
                                          mc_batch_size=mc_b, rows_per_forward=mc_b)[0]
                    for req, gen in zip(requests, gens())]
        return batched_loglikelihood(model, requests, gens(), mask_id=vocab - 1,
                                     block_size=sizes["block"], mc_num=mc_num, mc_batch_size=mc_b,
                                     rows_per_forward=rows_per_forward)

    rows, ref = [], None
    width = max(len(a) + len(b) for a, b in requests)
    budget = common.device_budget(cfg.device)
    elt = torch.tensor([], dtype=cfg.dtype).element_size()
    fit = {n: fit_rows_per_forward(n, width, vocab, elt, budget)
           for n in {mc_b, mc_num, *sizes["rows_per_forward"]}}
    variants = [(f"per_request_{fit[mc_b]}_rows_per_forward", fit[mc_b], True)] + [
        (f"batched_{fit[n]}_rows_per_forward", fit[n], False) for n in sizes["rows_per_forward"]] + [
        (f"shared_x0_{fit[n]}_rows_per_forward", fit[n], "shared_x0") for n in (mc_b, mc_num)]
    variants = list({v[0]: v for v in variants}.values())  # capped sizes may coincide
    for _ in range(cfg.warmup):  # the code paths on one request, not minutes of CPU
        batched_loglikelihood(model, requests[:1], [torch.Generator().manual_seed(0)],
                              mask_id=vocab - 1, block_size=sizes["block"], mc_num=mc_num,
                              mc_batch_size=mc_b, rows_per_forward=mc_b)
    timings = common.measure_many({name: (lambda n=n, p=p: run(n, p)) for name, n, p in variants},
                                  cfg.device, repeats=cfg.repeats, warmup=0,
                                  base_bytes=common.model_bytes(model))
    for name, n, per_request in variants:
        t = timings[name]
        ref = ref or (t.median, t.result)
        max_diff = max(abs(a - b) for a, b in zip(t.result, ref[1]))
        rows.append(common.row("student", name, params=common.params_b(model),
                               peak_bytes=t.peak_bytes, tokens_per_s=positions / t.median,
                               requests_per_s=len(requests) / t.median, seconds=t.median,
                               speedup_vs_per_request=ref[0] / t.median,
                               max_abs_diff_vs_per_request=max_diff))
        log.info("eval likelihood %-32s %7.2f requests/s", name, len(requests) / t.median)
    settings = {"shape": shape_name(cfg.preset, "student"), "dtype": str(cfg.dtype),
                "requests": len(requests), "context_tokens": sizes["context"],
                "continuation_tokens": sizes["continuation"], "mc_num": mc_num,
                "mc_batch_size": mc_b, "block_size": sizes["block"], "repeats": cfg.repeats,
                "warmup": cfg.warmup, "statistic": "median over repeats, variants interleaved",
                "threads": torch.get_num_threads(),
                "rows_per_forward_capped": {str(k): v for k, v in sorted(fit.items()) if v != k},
                "memory_budget_gb": None if budget == float("inf") else round(budget / 1e9, 2)}
    units = {"tokens_per_s": "[x_t ; x_0] positions of all MC rows (the per-request loop's work) per second",
             "requests_per_s": "loglikelihood requests per second",
             "seconds": "s for all requests (median)",
             "speedup_vs_per_request": "x requests/s of the per-request loop",
             "max_abs_diff_vs_per_request": "nats, largest difference of an estimate"}
    return common.result("eval_likelihood", device=cfg.device, command=cfg.command,
                         settings=settings, rows=rows, units=units)
