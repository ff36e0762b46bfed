"""One validated configuration per experiment.

``load_config(path)`` reads a YAML file, validates it against
``workflow/schemas/config.schema.yaml`` and runs the cross-field checks the schema cannot
express. Every error names the file, the field (as a dotted path), what was expected and
what was found, and is raised before any job runs (the Snakefile calls this first).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tide.distill.spec import RunSpec
from tide.vocab import BENCHMARKS, PIPELINES
from tide.vocab import column as vocab_column

if TYPE_CHECKING:
    from tide.config_tree import ConfigTree

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

#: objectives each pipeline supports (docs/method.md §2): token level needs a shared vocabulary
PIPELINE_OBJECTIVES = {
    "A": {"calm", "reverse_calm", "tidal_chunk", "tidal_reverse_calm", "ce_only_chunk"},
    "B": {"kl", "reverse_kl", "tidal", "tidal_reverse_kl", "ce_only"},
}


#: the `resources.<key>` a config may set: `default`, and the rules that read their own entry
#: (workflow/rules/*.smk: `res(...)`/`threads(...)`); every other rule runs with `default`
RESOURCE_KEYS = ("default", "train_ar", "sft_student", "train_teacher", "distill",
                 "eval_generate", "evaluate", "bench")
#: `models.*.init` values that are not a model location
INIT_KEYWORDS = ("train", "convert_ar")
#: teacher-free control objectives (CE term only): no temperature, no teacher term
CONTROL_OBJECTIVES = frozenset({"ce_only", "ce_only_chunk"})


class ConfigError(ValueError):
    """A configuration problem, with file and field in the message."""


def _replicas(run: RunSpec) -> list[RunSpec]:
    """One RunSpec per training seed of ``run`` (module: Config.runs)."""
    if not run.seeds:
        return [run]
    first, *rest = run.seeds
    return [replace(run, seed=int(first))] + [
        replace(run, name=f"{run.name}_seed{s}", seed=int(s)) for s in rest]


column_label = vocab_column  # the table column of a model id (seed replicas share theirs)


@dataclass
class Config:
    """The validated configuration (``raw`` is the dict Snakemake also sees)."""

    raw: dict
    source: str

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def runs(self, *, ablations: bool = True) -> list[RunSpec]:
        """Main runs, then ablations (defaults < base run < ablation overrides); a run with
        ``seeds`` [s0, s1, ...] repeats: s0 under its own name, the others as
        ``<name>_seed<s>`` (same spec, another training seed)."""
        return [rep for run in self._runs(ablations) for rep in _replicas(run)]

    def _runs(self, ablations: bool) -> list[RunSpec]:
        out = []
        drop = ("note",)
        defaults = {k: v for k, v in self.raw["distill"]["defaults"].items() if k not in drop}
        for pipeline in PIPELINES:
            mains = self.raw["distill"]["runs"].get(pipeline) or {}
            for name, spec in mains.items():
                out.append(RunSpec(pipeline=pipeline, name=name,
                                   **{**defaults, **{k: v for k, v in spec.items() if k not in drop}}))
            grid = (self.raw["distill"].get("ablations") or {}).get(pipeline) or {} if ablations else {}
            for name, spec in grid.items():
                base = mains.get(spec["base"])
                if base is None or name in mains:
                    raise ConfigError(
                        f"{self.source}: field distill.ablations.{pipeline}.{name}"
                        + (f".base: expected one of {sorted(mains)}, found {spec['base']!r}"
                           if base is None else ": name already used by a main run"))
                merged = {**defaults, **{k: v for k, v in base.items() if k not in drop},
                          **{k: v for k, v in spec.items() if k not in drop}}
                out.append(RunSpec(pipeline=pipeline, name=name, **merged))
        return out

    def run(self, pipeline: str, name: str) -> RunSpec:
        for r in self.runs():
            if r.pipeline == pipeline and r.name == name:
                return r
        valid = [f"{r.pipeline}/{r.name}" for r in self.runs()]
        raise ConfigError(f"{self.source}: distill.runs.{pipeline}.{name} does not exist; "
                          f"configured runs: {valid}")

    def resources(self, rule: str) -> dict:
        res = dict(self.raw["resources"]["default"])
        res.update(self.raw["resources"].get(rule, {}))
        return res

    @property
    def precision(self) -> str:
        """The student's training precision (tide/precision.py): ``train.precision``, or the
        one ``dtype`` implies when absent."""
        from tide.precision import resolve

        return resolve(self.raw)

    @functools.cached_property
    def tree(self) -> ConfigTree:
        """The typed tree (tide/config_tree.py): every section as a frozen dataclass whose
        fields carry the defaults."""
        from tide.config_tree import build

        return build(self.raw, tuple(self.runs()))

    def fingerprint(self, *sections: str) -> str:
        """Stable hash of some config sections (recorded beside outputs)."""
        sub = {s: self.raw.get(s) for s in sections} if sections else self.raw
        return hashlib.sha256(json.dumps(sub, sort_keys=True).encode()).hexdigest()[:12]


def _field_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_dict(raw: Any, source: str) -> Config:
    """Validate an already-loaded config dict (Snakemake passes its ``config``)."""
    import jsonschema

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, found {type(raw).__name__}")
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            found = json.dumps(e.instance, default=str)
            found = found if len(found) < 120 else found[:117] + "..."
            lines.append(f"  field {_field_path(e)}: {e.message} (found {found})")
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines))
    cfg = Config(raw=copy.deepcopy(raw), source=source)
    _cross_checks(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return validate_dict(raw, str(path))


def _cross_checks(cfg: Config) -> None:
    src, raw = cfg.source, cfg.raw
    try:
        cfg.precision
    except ValueError as exc:
        raise ConfigError(f"{src}: {exc}") from exc
    data = raw["data"]
    if data["source"] != "tiny" and data["source"] not in data:
        raise ConfigError(f"{src}: field data.{data['source']}: data.source is "
                          f"{data['source']!r} but that section is missing")
    for name, tok in raw["tokenizers"].items():
        if tok == "train" and data["source"] != "tiny":
            raise ConfigError(f"{src}: field tokenizers.{name}: 'train' needs data.source: tiny, "
                              f"found data.source: {data['source']}")
    for pipe, teacher in raw["models"]["teachers"].items():
        where = f"models.teachers.{pipe}"
        want_kind = "bidirectional" if pipe == "A" else "bd3lm"
        if teacher["kind"] != want_kind:
            raise ConfigError(f"{src}: field {where}.kind: pipeline {pipe} expects "
                              f"{want_kind!r}, found {teacher['kind']!r}")
        if teacher.get("from_ar"):
            if teacher["init"] != "train" or pipe != "B" or teacher.get("arch") != "dense":
                raise ConfigError(f"{src}: field {where}.from_ar: needs init 'train', arch "
                                  f"'dense' and pipeline B (the student's tokenizer), found "
                                  f"init {teacher['init']!r}, arch {teacher.get('arch')!r}, "
                                  f"pipeline {pipe}")
            if "dims" in teacher:
                raise ConfigError(f"{src}: field {where}.dims: a teacher with from_ar has the "
                                  f"AR model's dims; remove dims")
        if teacher["init"] == "train":
            needed = ("arch", "train") if teacher.get("from_ar") else ("arch", "dims", "train")
            for key in needed:
                if key not in teacher:
                    raise ConfigError(f"{src}: field {where}.{key}: required when init is 'train'")
    ar = raw["models"]["ar"]
    if ar["init"] == "train" and not {"dims", "train"} <= set(ar):
        raise ConfigError(f"{src}: field models.ar: init 'train' needs dims and train")
    for run in cfg.runs():
        where = f"distill.runs.{run.pipeline}.{run.name}"
        if run.objective not in PIPELINE_OBJECTIVES[run.pipeline]:
            raise ConfigError(
                f"{src}: field {where}.objective: pipeline {run.pipeline} supports "
                f"{sorted(PIPELINE_OBJECTIVES[run.pipeline])}, found {run.objective!r}")
        if run.temperature is None and run.objective not in CONTROL_OBJECTIVES:
            raise ConfigError(f"{src}: field {where}.temperature: required for objective "
                              f"{run.objective!r} (only {sorted(CONTROL_OBJECTIVES)} have none)")
        if run.steps is None and run.epochs is None:
            raise ConfigError(f"{src}: field {where}: set steps or epochs (here or in distill.defaults)")
        if run.l_init > run.l_max:
            raise ConfigError(f"{src}: field {where}.l_init: expected <= l_max ({run.l_max}), "
                              f"found {run.l_init}")
    _check_model_inits(cfg)
    for rule, res in raw["resources"].items():
        where = f"{src}: field resources.{rule}"
        if rule not in RESOURCE_KEYS:  # a typo would silently give the rule the defaults
            raise ConfigError(f"{where}: expected one of {list(RESOURCE_KEYS)} (default, or a "
                              f"rule with its own resources), found {rule!r}")
        gpus, tasks, nodes = res.get("gpus", 0), res.get("tasks") or 1, res.get("nodes", 1)
        if gpus and raw["device"] == "cpu":
            raise ConfigError(f"{where}.gpus: device is 'cpu' but {gpus} GPUs requested")
        if gpus and tasks not in (1, gpus):
            raise ConfigError(f"{where}.tasks: expected 1 (one process over all GPUs) or "
                              f"{gpus} (one rank per GPU, = gpus), found {tasks}")
        if tasks % nodes or (gpus and gpus % nodes):
            raise ConfigError(f"{where}: tasks ({tasks}) and gpus ({gpus}) must split evenly "
                              f"over nodes ({nodes})")
        if tasks > 1 and rule != "distill":
            raise ConfigError(f"{where}.tasks: only the distill rule runs several ranks, "
                              f"found tasks: {tasks}")
    _check_revisions(cfg)
    for bench in raw["eval"]["benchmarks"]:
        if bench not in BENCHMARKS:
            raise ConfigError(f"{src}: field eval.benchmarks: unknown benchmark {bench!r}; "
                              f"expected one of {sorted(BENCHMARKS)}")


def _check_revisions(cfg: Config) -> None:
    """Every hub id the config loads is listed under ``revisions:`` (pinned or null)."""
    if "revisions" not in cfg.raw:
        return  # a config without hub ids (tiny) or one written before revisions existed
    from tide.hubcache import config_hub_ids

    listed = cfg.raw["revisions"] or {}
    missing = [i for i in config_hub_ids(cfg) if i not in listed]
    if missing:
        raise ConfigError(f"{cfg.source}: field revisions: no entry for hub id(s) {missing}; "
                          "expected each with its commit sha (or null = unpinned, the hub's main)")


def _check_model_inits(cfg: Config) -> None:
    """A ``models.*.init`` that is a path (absolute, or starting with ``.``) must exist, so a
    mistyped directory fails here and not in a job; anything else is a hub id or a keyword."""
    models = cfg.raw["models"]
    inits = {"models.ar.init": models["ar"]["init"], "models.student.init": models["student"]["init"]}
    inits.update({f"models.teachers.{p}.init": t["init"] for p, t in models["teachers"].items()})
    for where, init in inits.items():
        if init in INIT_KEYWORDS or not init.startswith(("/", ".")):
            continue
        if not Path(init).exists():
            raise ConfigError(f"{cfg.source}: field {where}: expected an existing local directory "
                              f"(a path: absolute, or starting with '.'; else a hub id), found "
                              f"{init!r}, which does not exist (from {Path.cwd()})")
