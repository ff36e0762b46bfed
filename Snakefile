# TIDE workflow: wiring only. All logic lives in the `tide` package; every rule runs
# `tide <subcommand>`. Default config: the embedded tiny run (config/tiny.yaml).
# On a cluster:  snakemake --profile slurm all --configfile config/paper.yaml
from snakemake.utils import min_version

min_version("9.0")

if workflow.overwrite_configfiles:
    CONFIGFILE = str(workflow.overwrite_configfiles[-1])
else:
    CONFIGFILE = "config/tiny.yaml"

    configfile: "config/tiny.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/eval.smk"
include: "workflow/rules/ablations.smk"
include: "workflow/rules/heldout.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


# File-joining rules run on the submitting host under a cluster profile: a SLURM job per
# (model, benchmark) merge would wait in the queue for a fraction of a second of work.
# (eval_merge, defined only for the staged evaluation, marks itself: eval.smk)
localrules:
    scores,
    released_scores,


rule all:
    default_target: True
    input:
        all_targets(),
