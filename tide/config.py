"""One validated configuration per experiment.

``load_config(path)`` reads a YAML file, validates it against
``workflow/schemas/config.schema.yaml`` and runs the cross-field checks the schema cannot
express. Every error names the file, the field (as a dotted path), what was expected and
what was found, and is raised before any job runs (the Snakefile calls this first).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

PIPELINES = ("A", "B")
#: objectives each pipeline supports (method.md §2): token level needs a shared vocabulary
PIPELINE_OBJECTIVES = {
    "A": {"calm", "reverse_calm", "tidal_chunk", "tidal_reverse_calm", "ce_only_chunk"},
    "B": {"kl", "reverse_kl", "tidal", "tidal_reverse_kl", "ce_only"},
}
#: teacher-free control objectives (CE term only): no temperature, no teacher term
CONTROL_OBJECTIVES = {"ce_only", "ce_only_chunk"}
#: the paper's main-table column of each model id (other runs, e.g. ablations, have none)
COLUMN_LABELS = {
    "ar": "AR_Qwen3-0.6B", "bd3lm": "BD3LM",
    "B_kl": "B_KL", "B_tide_shared": "B_TIDE-Shared", "B_tide_cross": "B_TIDE-Cross",
    "A_calm": "A_CALM", "A_tide_shared": "A_TIDE-Shared", "A_tide_cross": "A_TIDE-Cross",
}


class ConfigError(ValueError):
    """A configuration problem, with file and field in the message."""


@dataclass(frozen=True)
class RunSpec:
    """One distillation run: the defaults merged with the run's own overrides."""

    pipeline: str
    name: str
    objective: str
    lr: float
    batch_size: int
    weight: float
    l_init: float
    l_max: float
    schedule: str
    temperature: float | None = None  # None only for the teacher-free control (ce_only*)
    steps: int | None = None
    epochs: float | None = None
    warmup_ratio: float = 0.1
    axis_mode: str = "both"
    weighting: str = "uniform"
    compdemo: bool = False
    rho: float = 0.5
    concat_order: str | None = None
    checkpoint_every: int = 50
    base: str | None = None  # ablations: the main run this one modifies
    axis: str | None = None  # ablations: the method.md §4 axis
    seeds: list | None = None  # training seeds (config); expanded by Config.runs()
    seed: int | None = None  # this replica's training seed (None: the config's seed)
    extra: dict = field(default_factory=dict)

    @property
    def is_ablation(self) -> bool:
        return self.base is not None

    @property
    def model_id(self) -> str:
        """Identifier used for evaluation outputs: ``{pipeline}_{run}``."""
        return f"{self.pipeline}_{self.name}"

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("extra")
        for k in ("seeds", "seed"):  # absent unless set: existing runs' params stay the same
            if d[k] is None:
                d.pop(k)
        return d


SEED_SUFFIX = re.compile(r"_seed\d+$")


def _replicas(run: RunSpec) -> list[RunSpec]:
    """One RunSpec per training seed of ``run`` (module: Config.runs)."""
    if not run.seeds:
        return [run]
    first, *rest = run.seeds
    return [replace(run, seed=int(first))] + [
        replace(run, name=f"{run.name}_seed{s}", seed=int(s)) for s in rest]


def column_label(model_id: str) -> str:
    """The table column of a model id; seed replicas share their run's column."""
    return COLUMN_LABELS.get(SEED_SUFFIX.sub("", model_id), model_id)


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
        if teacher["init"] == "train":
            for key in ("arch", "dims", "train"):
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
    for rule, res in raw["resources"].items():
        where = f"{src}: field resources.{rule}"
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
    from tide.eval.benchmarks import BENCHMARKS  # the protocol table (import-light)

    for bench in raw["eval"]["benchmarks"]:
        if bench not in BENCHMARKS:
            raise ConfigError(f"{src}: field eval.benchmarks: unknown benchmark {bench!r}; "
                              f"expected one of {sorted(BENCHMARKS)}")
