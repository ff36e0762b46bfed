# Config validation, wildcard constraints, and the helpers rules share.
# Paths come from tide.paths only; resources from the config's `resources` section.
import json
import os
import sys

sys.path.insert(0, workflow.basedir)

from tide import identity, paths
from tide.config import validate_dict
from tide.resolved import resolved_config, write_resolved
import yaml

CFG = validate_dict(config, source=CONFIGFILE)  # stops here, before any job, on bad config

# Every job reads the resolved config (file + any --config overrides) of the invocation that
# scheduled it, from a content-addressed file results/config/<sha>.yaml: another invocation
# (another --configfile, a dry run) can never change what a running workflow's jobs read.
# The file is written in `onstart` (real runs only: a dry run writes nothing under results/).
# A SLURM jobstep re-parses this Snakefile; it takes the main process's file from the
# environment (sbatch exports it) rather than re-resolving a config file edited meanwhile.
_text = yaml.safe_dump(CFG.raw, sort_keys=True)
RESOLVED = resolved_config(_text)
if not workflow.is_main_process and os.environ.get("TIDE_RESOLVED_CONFIG"):
    RESOLVED = os.environ["TIDE_RESOLVED_CONFIG"]
else:
    os.environ["TIDE_RESOLVED_CONFIG"] = RESOLVED

TIDE = f"tide --config {RESOLVED}"
RUNS = CFG.runs()
ABLATIONS = [r for r in RUNS if r.is_ablation]
MODEL_IDS = ["ar", "bd3lm"] + [r.model_id for r in RUNS]
# released checkpoints (eval.checkpoints): evaluated as they are by the `released` target
CHECKPOINT_IDS = sorted(CFG["eval"].get("checkpoints") or {})
BENCHMARKS = CFG["eval"]["benchmarks"]
ABLATION_BENCHMARKS = CFG["eval"].get("ablation_benchmarks") or BENCHMARKS
TINY = CFG["data"]["source"] == "tiny"
from tide.plan import eval_shards  # noqa: E402

# generation shards per benchmark (eval.shards, or sized from eval.throughput_tokens_per_s)
SHARDS = {b: eval_shards(CFG, b) for b in sorted(set(BENCHMARKS) | set(ABLATION_BENCHMARKS))}
if {"-n", "--dry-run", "--dryrun"} & set(sys.argv):  # the plan's cost beside the job list
    from tide.plan import plan_text

    print("Estimated GPU-hours (tide/plan.py; `tide plan` prints the same):\n"
          + plan_text(CFG), file=sys.stderr)


wildcard_constraints:
    pipeline="A|B",
    run="|".join(sorted({r.name for r in RUNS})) or "none",
    model_id="|".join(MODEL_IDS + CHECKPOINT_IDS),
    benchmark="|".join(sorted(set(BENCHMARKS) | set(ABLATION_BENCHMARKS))),
    kind="sft|sft_teacher_a|sft_teacher_b|A|B",
    split="train|heldout",
    shard="[0-9]+",
    shards="[0-9]+",


# Rules that train (checkpoint + exit on SIGUSR1; their params `identity` is the rerun trigger,
# tide/identity.py) and how long before its time limit SLURM
# warns a job: enough for one step plus a checkpoint write on the paper's models.
TRAINING_RULES = ("train_ar", "sft_student", "train_teacher", "distill")
# Evaluation generation stores each finished batch and exits 124 on the same warning
EVAL_PREEMPTIBLE_RULES = ("eval_generate",)
SIGNAL_LEAD_S = 300


def res(rule_name):
    """Resources of a rule from the config (threads separately, via `threads:`), in the
    SLURM plugin's names.

    tasks > 1 (one rank per GPU, or CPU ranks) marks the job `mpi`: the plugin then runs the
    command in the batch step, where `tide launch` starts the ranks with one `srun`, instead of
    wrapping it in `srun -n1`. GPU jobs state `tasks_per_gpu` explicitly (1 for one rank per
    GPU, 0 = no flag for one process over several GPUs): left unset, the plugin turns `tasks`
    into `--ntasks-per-gpu` and runs the command once per GPU (its issues 316 and 459).
    """
    r = CFG.resources(rule_name)
    tasks = r.get("tasks") or 1
    out = {"mem_mb": r["mem_mb"], "runtime": r["runtime"], "tasks": tasks}
    if r.get("gpus"):
        out["gpu"] = r["gpus"]
        out["tasks_per_gpu"] = 1 if tasks == r["gpus"] else 0
    if tasks > 1:
        out["mpi"] = "srun"
    if r.get("nodes"):
        out["nodes"] = r["nodes"]
    if rule_name in TRAINING_RULES + EVAL_PREEMPTIBLE_RULES:
        # SLURM's warning before the time limit: training checkpoints and exits (tide/train.py),
        # generation stores its last batch and exits (tide/eval/staged.py); the retry resumes
        out["slurm_extra"] = f"--signal=USR1@{SIGNAL_LEAD_S}"
    return out


def threads(rule_name):
    return CFG.resources(rule_name)["threads"]


def trained(name):
    """Whether a model is trained in the workflow (else it is loaded from its hub id)."""
    if name == "ar":
        return CFG["models"]["ar"]["init"] == "train"
    if name == "bd3lm":
        return CFG["models"]["student"]["init"] == "convert_ar"
    return CFG["models"]["teachers"][name.split("_")[1]]["init"] == "train"


def model_input(model_id):
    """The pointer file of a model to evaluate (none for a released checkpoint)."""
    if model_id in CHECKPOINT_IDS:
        return []
    if model_id in ("ar", "bd3lm"):
        return str(paths.model_metrics(model_id))
    pipeline, run = model_id.split("_", 1)
    return str(paths.run_summary(pipeline, run))


def benchmarks_of(model_id):
    """Main models are scored on every benchmark; ablations on `eval.ablation_benchmarks`."""
    ablation_ids = {r.model_id for r in ABLATIONS}
    return ABLATION_BENCHMARKS if model_id in ablation_ids else BENCHMARKS


def score_files():
    return [str(paths.eval_score(m, b)) for m in MODEL_IDS for b in benchmarks_of(m)]


def all_targets():
    targets = [str(paths.scores_csv()), "reports/main_table.md", "reports/lambda_heatmap.png",
               "reports/heldout_table.md"]
    targets += score_files()
    targets += [str(paths.ablation_rows(r.model_id)) for r in ABLATIONS]
    return targets


def _check_slurm_submission():
    """Fail at submission, before any GPU hour, when the cluster settings are missing."""
    plugin = getattr(workflow, "executor_plugin", None)
    if plugin is None or getattr(plugin, "name", "") != "slurm":
        return
    missing = [v for v in ("TIDE_SLURM_PARTITION", "TIDE_SLURM_ACCOUNT") if not os.environ.get(v)]
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
