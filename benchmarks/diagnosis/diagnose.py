"""Why does tiny distillation hurt? Small experiments with tide's held-out estimator.

    python benchmarks/diagnosis/diagnose.py config BASE.yaml OUT.yaml   # the experiment config
    snakemake --profile workflow/profiles/local -j 2 -d DIAG --configfile OUT.yaml \
        --allowed-rules distill heldout -- $(python benchmarks/diagnosis/diagnose.py targets OUT.yaml)
    python benchmarks/diagnosis/diagnose.py summarize OUT.yaml DIAG/results > table.md

DIAG/results/{data,models} are symlinks to a finished tiny DAG's (same corpus, student and
teachers); only the experiment runs and their held-out figures are computed there. Each
experiment is compared with the teacher-free control (CE term only) of the same pipeline,
learning rate and step count: same data order and noise draws, so the difference is the
teacher's effect alone (paired bootstrap over held-out examples).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# name: (pipeline, overrides of distill.defaults + run fields); every experiment has a
# control (objective ce_only*) with the same lr and steps (its name: the lr/steps suffix)
EXPERIMENTS = {
    # the tiny default as it was (60 steps, lr 5e-4), pipeline B
    "ctl": ("B", {"objective": "ce_only"}),
    "kl_t2": ("B", {"objective": "kl", "temperature": 2.0}),
    "rkl_t2": ("B", {"objective": "reverse_kl", "temperature": 2.0}),
    "tidal_t2": ("B", {"objective": "tidal", "temperature": 2.0, "axis_mode": "both",
                       "weighting": "midrange", "compdemo": True, "rho": 0.5}),
    # temperature
    "kl_t1": ("B", {"objective": "kl", "temperature": 1.0}),
    # the learning-rate restart: a 5x smaller peak
    "ctl_lr1e4": ("B", {"objective": "ce_only", "lr": 1.0e-4}),
    "kl_t1_lr1e4": ("B", {"objective": "kl", "temperature": 1.0, "lr": 1.0e-4}),
    # the budget: 5x the steps
    "ctl_s300": ("B", {"objective": "ce_only", "steps": 300}),
    "kl_t1_s300": ("B", {"objective": "kl", "temperature": 1.0, "steps": 300}),
    "kl_t2_s300": ("B", {"objective": "kl", "temperature": 2.0, "steps": 300}),
    # pipeline A
    "actl": ("A", {"objective": "ce_only_chunk"}),
    "calm_t5": ("A", {"objective": "calm", "temperature": 5.0}),
    "calm_t1": ("A", {"objective": "calm", "temperature": 1.0}),
    "actl_s300": ("A", {"objective": "ce_only_chunk", "steps": 300}),
    "calm_t1_s300": ("A", {"objective": "calm", "temperature": 1.0, "steps": 300}),
}


def make_config(base: str, out: str) -> None:
    cfg = yaml.safe_load(Path(base).read_text())
    runs = {"A": {}, "B": {}}
    for name, (pipeline, spec) in EXPERIMENTS.items():
        runs[pipeline][name] = dict(spec)
    d = cfg["distill"]
    d["runs"], d["ablations"], d["seeds"] = runs, {}, 1
    Path(out).write_text(yaml.safe_dump(cfg, sort_keys=False))


def targets(config: str) -> list[str]:
    from tide.config import load_config

    cfg = load_config(config)
    return ["results/heldout/bd3lm.json", "results/heldout/teacher_A.json",
            "results/heldout/teacher_B.json"] + [f"results/heldout/{r.model_id}.json"
                                                 for r in cfg.runs()]


def summarize(config: str, results: str) -> str:
    from tide.config import load_config
    from tide.heldout import bootstrap_ratio
    from tide.report.heldout import load_heldout

    cfg = load_config(config)
    recs = load_heldout(results)
    lines = ["| run | pipeline | objective | T | lr | steps | bits/byte [95% CI] | "
             "Δ vs matched control [95% CI] | KL to own teacher [95% CI] | control's KL |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in ("teacher_B", "teacher_A", "bd3lm"):
        if (m, 0) in recs:
            b = recs[(m, 0)]["bpb"]
            p, lo, hi = bootstrap_ratio(b["bits"], b["bytes"])
            kl = ""
            if "kl_B" in recs[(m, 0)]:
                kb, ka = recs[(m, 0)]["kl_B"], recs[(m, 0)]["kl_A"]
                kl = (f"B {bootstrap_ratio(kb['kl'], kb['n'])[0]:.4f} / "
                      f"A {bootstrap_ratio(ka['kl'], ka['n'])[0]:.4f}")
            lines.append(f"| {m} | | | | | | {p:.4f} [{lo:.4f}, {hi:.4f}] | | {kl} | |")
    runs = cfg.runs()
    for r in runs:
        rec = recs.get((r.model_id, 0))
        if rec is None:
            lines.append(f"| {r.name} | {r.pipeline} | {r.objective} | | | | not run | | | |")
            continue
        ctl = next((c for c in runs if c.pipeline == r.pipeline and c.objective.startswith("ce_only")
                    and c.lr == r.lr and c.steps == r.steps), None)
        b = rec["bpb"]
        p, lo, hi = bootstrap_ratio(b["bits"], b["bytes"])
        key = "kl_B" if r.pipeline == "B" else "kl_A"
        k = rec[key]
        kp, klo, khi = bootstrap_ratio(k["kl"], k["n"])
        d = ck = ""
        if ctl is not None and ctl.name != r.name and (ctl.model_id, 0) in recs:
            c = recs[(ctl.model_id, 0)]
            dp, dlo, dhi = bootstrap_ratio(b["bits"], b["bytes"], other=(c["bpb"]["bits"], c["bpb"]["bytes"]))
            d = f"{dp:+.4f} [{dlo:+.4f}, {dhi:+.4f}]"
            ck = f"{bootstrap_ratio(c[key]['kl'], c[key]['n'])[0]:.4f}"
        lines.append(f"| {r.name} | {r.pipeline} | {r.objective} | {r.temperature or ''} | "
                     f"{r.lr:g} | {r.steps} | {p:.4f} [{lo:.4f}, {hi:.4f}] | {d} | "
                     f"{kp:.4f} [{klo:.4f}, {khi:.4f}] | {ck} |")
    b0 = recs.get(("bd3lm", 0))
    if b0 is not None:
        kb = b0["kl_B"]
        n = sum(kb["n"])
        lines.append("")
        lines.append(f"At the units the KL term trains on (held-out masked aligned pairs of B, "
                     f"n = {int(n)}): CE of the gold token, BD3LM start "
                     f"{sum(kb['student_ce']) / n:.4f} nats vs teacher B "
                     f"{sum(kb['teacher_ce']) / n:.4f} nats.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "config":
        make_config(*args)
    elif cmd == "targets":
        print(" ".join(targets(*args)))
    elif cmd == "summarize":
        sys.stdout.write(summarize(*args))
    else:
        raise SystemExit(f"unknown command {cmd!r}; expected config | targets | summarize")
