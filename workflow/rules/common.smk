# Config validation, wildcard constraints, and the helpers rules share.
# Paths come from tide.paths only; resources from the config's `resources` section.
import json
import os
import sys

sys.path.insert(0, workflow.basedir)

from tide import identity, paths
from tide.config import CONTROL_OBJECTIVES, validate_dict
from tide.resolved import resolved_config, write_resolved
from tide.slurm import snakemake_resources
import yaml

CFG = validate_dict(
    config, source=CONFIGFILE
)  # stops here, before any job, on bad config
# Settings are read through CFG.tree (each default in tide/config_tree.py). Two things read
# the raw dict on purpose: the resolved config file below, and the `params:` that dump config
# sections as rerun triggers (data.smk, eval.smk): filled-in defaults would change them.

# Every job reads the resolved config (file + any --config overrides) of the invocation that
# scheduled it, from a content-addressed file results/config/<sha>.yaml: another invocation
# (another --configfile, a dry run) can never change what a running workflow's jobs read.
# The file is written in `onstart` (real runs only: a dry run writes nothing under results/).
# A SLURM jobstep re-parses this Snakefile; it takes the main process's file from the
# environment (sbatch exports it) rather than re-resolving a config file edited meanwhile.
_text = yaml.safe_dump(CFG.raw, sort_keys=True)
RESOLVED = resolved_config(_text)
# (set by the workflow itself, so not an `envvars:` requirement of the user)
_INHERITED = os.environ.get("TIDE_RESOLVED_CONFIG")
if not workflow.is_main_process and _INHERITED:
    RESOLVED = _INHERITED
else:
    os.environ.update(TIDE_RESOLVED_CONFIG=RESOLVED)

TIDE = f"tide --config {RESOLVED}"
RUNS = CFG.runs()
ABLATIONS = [r for r in RUNS if r.is_ablation]
MODEL_IDS = ["ar", "bd3lm"] + [r.model_id for r in RUNS]
# released checkpoints (eval.checkpoints): evaluated as they are by the `released` target
CHECKPOINT_IDS = sorted(CFG.tree.eval.checkpoints)
BENCHMARKS = list(CFG.tree.eval.benchmarks)
ABLATION_BENCHMARKS = list(CFG.tree.eval.ablation_benchmarks or BENCHMARKS)
TINY = CFG.tree.data.source == "tiny"
ABLATION_IDS = [r.model_id for r in ABLATIONS]
# teacher-free controls without benchmark scores (eval.score_controls: false)
UNSCORED_IDS = (
    []
    if CFG.tree.eval.score_controls
    else [r.model_id for r in RUNS if r.objective in CONTROL_OBJECTIVES]
)
# eval.per_model: one job per model scores all its benchmarks (eval.smk: eval_model);
# the model ids of each such rule, as a wildcard constraint
PER_MODEL = CFG.tree.eval.per_model
PER_MODEL_IDS = {
    "main": [
        m for m in MODEL_IDS + CHECKPOINT_IDS if m not in ABLATION_IDS + UNSCORED_IDS
    ],
    "ablation": ABLATION_IDS,
}
from tide.plan import eval_shards  # noqa: E402

# generation shards per benchmark (eval.shards, or sized from eval.throughput_tokens_per_s)
SHARDS = {
    b: eval_shards(CFG, b) for b in sorted(set(BENCHMARKS) | set(ABLATION_BENCHMARKS))
}
if {"-n", "--dry-run", "--dryrun"} & set(
    sys.argv
):  # the plan's cost beside the job list
    from tide.plan import plan_text

    print(
        "Estimated GPU-hours (tide/plan.py; `tide plan` prints the same):\n"
        + plan_text(CFG),
        file=sys.stderr,
    )


wildcard_constraints:
    pipeline="A|B",
    run="|".join(sorted({r.name for r in RUNS})) or "none",
    model_id="|".join(MODEL_IDS + CHECKPOINT_IDS),
    benchmark="|".join(sorted(set(BENCHMARKS) | set(ABLATION_BENCHMARKS))),
    kind="sft|sft_teacher_a|sft_teacher_b|A|B",
    split="train|heldout",
    shard="[0-9]+",
    shards="[0-9]+",


def res(rule_name):
    """Resources of a rule from the config, in the SLURM plugin's names (tide/slurm.py)."""
    return snakemake_resources(CFG.resources(rule_name), rule_name)


def threads(rule_name):
    return CFG.resources(rule_name)["threads"]


def trained(name):
    """Whether a model is trained in the workflow (else it is loaded from its hub id)."""
    if name == "ar":
        return CFG.tree.models.ar.init == "train"
    if name == "bd3lm":
        return CFG.tree.models.student.init == "convert_ar"
    return CFG.tree.models.teachers[name.split("_")[1]].init == "train"


def model_input(model_id):
    """The pointer file of a model to evaluate (none for a released checkpoint)."""
    if model_id in CHECKPOINT_IDS:
        return []
    if model_id in ("ar", "bd3lm"):
        return str(paths.model_metrics(model_id))
    pipeline, run = model_id.split("_", 1)
    return str(paths.run_summary(pipeline, run))


def benchmarks_of(model_id):
    """Main models are scored on every benchmark; ablations on `eval.ablation_benchmarks`;
    the teacher-free controls on none unless `eval.score_controls` (held-out table only).
    """
    if model_id in ABLATION_IDS:
        return ABLATION_BENCHMARKS
    return [] if model_id in UNSCORED_IDS else BENCHMARKS


def score_files():
    return [str(paths.eval_score(m, b)) for m in MODEL_IDS for b in benchmarks_of(m)]


def all_targets():
    targets = [
        str(paths.scores_csv()),
        "reports/main_table.md",
        "reports/lambda_heatmap.png",
        "reports/heldout_table.md",
    ]
    targets += score_files()
    targets += [str(paths.ablation_rows(r.model_id)) for r in ABLATIONS]
    return targets


# Held-out metrics (heldout.smk): the BD3LM start, every run, the seed-k repeats of the main
# runs (distill.seeds) and the teachers.
SEEDS = CFG.tree.distill.seeds
MAIN_RUNS = [r for r in RUNS if not r.is_ablation]
HELDOUT_IDS = (
    ["teacher_A", "teacher_B", "bd3lm"]
    + [r.model_id for r in RUNS]
    + [f"{r.model_id}.seed{k}" for r in MAIN_RUNS for k in range(1, SEEDS)]
)
# distill.seeds > 1: one job (heldout_repeats) scores a main run and its repeats in one
# process; the others (teachers, the BD3LM start, ablations) one job each (heldout)
HELDOUT_SEED_SUFFIXES = [""] + [f".seed{k}" for k in range(1, SEEDS)]
HELDOUT_GROUPED = [r.model_id for r in MAIN_RUNS] if SEEDS > 1 else []
HELDOUT_SINGLE = [h for h in HELDOUT_IDS if h.split(".seed")[0] not in HELDOUT_GROUPED]


# Input functions of the rules (snakemake --lint: no functions beside rules).


def dataset_inputs(wildcards):
    pretok = wildcards.kind in ("A", "B") and CFG.tree.data.source == "pretokenized"
    corpus = [] if pretok else [str(paths.corpus(wildcards.split))]
    return corpus + [str(paths.tokenizers_summary())]


def teacher_inputs(wildcards):
    if not trained(f"teacher_{wildcards.pipeline}"):
        return []
    kind = "sft_teacher_a" if wildcards.pipeline == "A" else "sft_teacher_b"
    out = [str(paths.dataset(kind, s)) for s in ("train", "heldout")]
    teacher = CFG.tree.models.teachers[wildcards.pipeline]
    if teacher.from_ar:  # it starts from the AR model's weights
        out.append(str(paths.model_metrics("ar")))
    return out


def teacher_check_input(wildcards):
    """A trained teacher's check against the SFT student, read before any distillation."""
    if not trained(f"teacher_{wildcards.pipeline}"):
        return []
    return [str(paths.teacher_check(wildcards.pipeline))]


def eval_inputs(wildcards):
    inputs = (
        {"model": model_input(wildcards.model_id)}
        if model_input(wildcards.model_id)
        else {}
    )
    if CFG.tree.eval.source == "tiny":
        inputs["data"] = str(paths.eval_data(wildcards.benchmark))
    return inputs


# Results copied from elsewhere may be partial (one pipeline, no ablations...): with
# TIDE_REPORT_PARTIAL=1 (`make report`), only the inputs that exist are declared and the report
# marks the rest; in a DAG run every input is declared, so the report waits for all of them.
REPORT_PARTIAL = os.environ.get("TIDE_REPORT_PARTIAL") == "1"


def eval_model_inputs(wildcards):
    """eval_model: the model's pointer and the tiny items of each of its benchmarks."""
    model = model_input(wildcards.model_id)
    data = (
        [str(paths.eval_data(b)) for b in benchmarks_of(wildcards.model_id)]
        if CFG["eval"]["source"] == "tiny"
        else []
    )
    return {"model": model, "data": data} if model else {"data": data}


def eval_data_input(wildcards):
    return (
        [str(paths.eval_data(wildcards.benchmark))]
        if CFG.tree.eval.source == "tiny"
        else []
    )


def shard_done_files(wildcards):
    n = SHARDS[wildcards.benchmark]
    return [
        str(paths.eval_shard_done(wildcards.model_id, wildcards.benchmark, k, n))
        for k in range(n)
    ]


def report_inputs(_wildcards):
    inputs = {
        "scores": [str(paths.scores_csv())],
        "runs": [str(paths.run_summary(r.pipeline, r.name)) for r in RUNS],
        "ablations": [str(paths.ablation_rows(r.model_id)) for r in ABLATIONS],
        # the held-out table and figure (heldout.smk): declared so the HTML report shows them
        "heldout": ["reports/heldout_table.html", "reports/heldout.png"],
    }
    # results/bench/*.json and results/scores_released.csv are read when present but not
    # declared: declaring them would make `all` run the 15-minute `bench` rule or the
    # released checkpoints' evaluations; `make report` regenerates after either.
    if REPORT_PARTIAL:
        inputs = {k: [f for f in v if os.path.exists(f)] for k, v in inputs.items()}
    return inputs


def heldout_inputs_of(hid):
    from tide.heldout_eval import TEACHER_IDS, parse_heldout_id

    model_id, seed = parse_heldout_id(hid)
    if model_id in TEACHER_IDS:  # its own bits/byte only
        kind = {"teacher_A": "sft_teacher_a", "teacher_B": "sft_teacher_b"}[model_id]
        return [str(paths.dataset(kind, "heldout")), str(paths.model_metrics(model_id))]
    if model_id == "bd3lm":  # the start of both pipelines: against both teachers
        pipelines, model = ("A", "B"), str(paths.model_metrics("bd3lm"))
    else:  # a run: against its own pipeline's teacher
        pipeline, run = model_id.split("_", 1)
        pipelines, model = (pipeline,), str(paths.run_summary(pipeline, run, seed=seed))
    return (
        [str(paths.dataset("sft", "heldout")), model]
        + [str(paths.dataset(p, "heldout")) for p in pipelines]
        + [str(paths.model_metrics(f"teacher_{p}")) for p in pipelines]
    )


def heldout_inputs(wildcards):
    return heldout_inputs_of(wildcards.hid)


def heldout_repeats_inputs(wildcards):
    """heldout_repeats: the inputs of a main run and of its held-out repeats."""
    ids = [wildcards.model_id + s for s in HELDOUT_SEED_SUFFIXES]
    return sorted({f for h in ids for f in heldout_inputs_of(h)})


def heldout_report_inputs(_wildcards):
    files = [f"results/heldout/{h}.json" for h in HELDOUT_IDS]
    # `make report` on copied, partial results (TIDE_REPORT_PARTIAL, report.smk): what exists
    return [f for f in files if os.path.exists(f)] if REPORT_PARTIAL else files


def _check_slurm_submission():
    """Fail at submission, before any GPU hour, when the cluster settings are missing."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or getattr(plugin, "name", "") != "slurm":
        return
    missing = [
        v
        for v in ("TIDE_SLURM_PARTITION", "TIDE_SLURM_ACCOUNT")
        if not os.environ.get(v)
    ]
    if missing and not workflow.dryrun:
        raise WorkflowError(
            f"SLURM profile: environment variable(s) {missing} not set; the profile "
            "(workflow/profiles/slurm/config.yaml) reads the partition and account from "
            "TIDE_SLURM_PARTITION and TIDE_SLURM_ACCOUNT (export them, or set slurm_partition/"
            "slurm_account in your own profile)"
        )


onstart:
    _check_slurm_submission()
    write_resolved(_text, RESOLVED)
