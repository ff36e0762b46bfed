"""Config validation: both shipped configs validate; bad input names file, field, expected, found."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tide.config import RESOURCE_KEYS, SCHEMA_PATH, ConfigError, load_config, validate_dict

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "tiny.yaml"
PAPER = REPO / "config" / "paper.yaml"


@pytest.fixture(scope="module")
def tiny_raw():
    return yaml.safe_load(TINY.read_text())


def test_shipped_configs_validate():
    tiny, paper = load_config(TINY), load_config(PAPER)
    mains = {(r.pipeline, r.name) for r in tiny.runs() if not r.is_ablation}
    paper_mains = {("B", "kl"), ("B", "tide_shared"), ("B", "tide_cross"),
                   ("A", "calm"), ("A", "tide_shared"), ("A", "tide_cross")}
    # the tiny default adds a teacher-free control per pipeline (CE term only, issue 15)
    assert mains == paper_mains | {("B", "control"), ("A", "control")}
    assert {(r.pipeline, r.name) for r in paper.runs() if not r.is_ablation} == paper_mains


def test_ablation_grid_covers_every_axis_and_merges_its_base():
    axes = {"tidal_axes", "timestep_weighting", "lambda_growth", "compdemo", "concat_order",
            "tidal_on_reverse"}
    for path in (TINY, PAPER):
        cfg = load_config(path)
        assert {r.axis for r in cfg.runs() if r.is_ablation} == axes, path
    tiny = load_config(TINY)
    abl = tiny.run("B", "growth_linear")
    base = tiny.run("B", "tide_shared")
    assert abl.schedule == "linear" and base.schedule == "cosine"
    assert (abl.objective, abl.weighting, abl.compdemo) == (base.objective, base.weighting, True)
    assert tiny.run("A", "tidal_on_reverse").objective == "tidal_reverse_calm"


def test_ablation_with_unknown_base_is_rejected(tiny_raw):
    raw = copy.deepcopy(tiny_raw)
    raw["distill"]["ablations"]["B"]["growth_linear"]["base"] = "tide_sharde"
    with pytest.raises(ConfigError, match=r"distill.ablations.B.growth_linear.base: expected one of"):
        validate_dict(raw, "my.yaml").runs()


def test_paper_config_holds_the_paper_settings():
    paper = load_config(PAPER)
    assert paper["models"]["teachers"]["A"]["init"] == "inclusionAI/LLaDA2.0-mini"
    assert paper["models"]["teachers"]["A"]["mask_token_id"] == 156895
    assert paper["models"]["teachers"]["B"]["init"] == "tencent/WeDLM-8B-Instruct"
    assert paper["models"]["teachers"]["B"]["mask_token_id"] == 151665
    assert paper["shared_vocab_size"] == 151646
    shared = paper.run("B", "tide_shared")
    assert (shared.objective, shared.temperature, shared.axis_mode, shared.weighting,
            shared.compdemo, shared.rho) == ("tidal", 2.0, "both", "midrange", True, 0.5)
    swapped = paper.run("A", "tide_shared")
    assert (swapped.objective, swapped.weighting, swapped.temperature) == ("tidal_chunk", "uniform", 5.0)
    assert paper.run("A", "tide_cross").objective == "reverse_calm"
    assert paper.run("B", "kl").lr == 5e-5
    # each open question of the spec is written next to its value
    text = PAPER.read_text()
    for question in ("Epochs", "Pipeline A temperature", "GSM8K filter", "Few-shot-as-multiturn"):
        assert question in text


@pytest.mark.parametrize("mutate, field, found", [
    (lambda c: c["distill"]["runs"]["B"]["kl"].update(objective="calm"),
     "distill.runs.B.kl.objective", "'calm'"),
    (lambda c: c["models"]["teachers"]["A"].update(kind="bd3lm"), "models.teachers.A.kind", "'bd3lm'"),
    (lambda c: c["distill"]["defaults"].update(schedule="exp"), "distill.defaults.schedule", '"exp"'),
    (lambda c: c.update(attn_implementation="flash_attention_2"), "attn_implementation",
     '"flash_attention_2"'),
    (lambda c: c["eval"].update(benchmarks=["gsm8k", "trivia"]), "eval.benchmarks", "'trivia'"),
    (lambda c: c["data"].update(max_lenght=3), "data", "max_lenght"),
    (lambda c: c["resources"]["distill"].update(gpus=2), "resources.distill.gpus", "2 GPUs"),
])
def test_bad_field_is_named_with_expected_and_found(tiny_raw, mutate, field, found):
    raw = copy.deepcopy(tiny_raw)
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        validate_dict(raw, "my.yaml")
    msg = str(err.value)
    assert "my.yaml" in msg and field in msg and found in msg


def test_resources_key_must_be_a_rule_with_its_own_resources(tiny_raw):
    """A typo (`evalute`) used to validate and give every evaluation job the defaults."""
    raw = copy.deepcopy(tiny_raw)
    raw["resources"]["evalute"] = {"threads": 8, "mem_mb": 64000, "runtime": 600, "gpus": 0}
    with pytest.raises(ConfigError) as err:
        validate_dict(raw, "my.yaml")
    msg = str(err.value)
    assert "my.yaml: field resources.evalute" in msg and "found 'evalute'" in msg
    assert all(repr(name) in msg for name in RESOURCE_KEYS)


def test_resource_keys_are_the_rules_that_read_their_own():
    """RESOURCE_KEYS is exactly what workflow/rules/*.smk pass to res()/threads()."""
    used = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        used |= set(re.findall(r'\b(?:res|threads)\("([a-z_]+)"\)', smk.read_text()))
    assert used == set(RESOURCE_KEYS)


@pytest.mark.parametrize("where", ["ar", "student", "teachers.B"])
@pytest.mark.parametrize("init", ["./checkpoints/student", "/no/such/dir/model"])
def test_missing_local_init_is_rejected(tiny_raw, where, init):
    raw = copy.deepcopy(tiny_raw)
    section = raw["models"]
    for key in where.split("."):
        section = section[key]
    section["init"] = init
    section.pop("from_ar", None)  # teacher B: a loaded teacher does not start from the AR model
    with pytest.raises(ConfigError) as err:
        validate_dict(raw, "my.yaml")
    msg = str(err.value)
    assert f"my.yaml: field models.{where}.init" in msg and f"found {init!r}" in msg
    assert "does not exist" in msg


def test_existing_local_init_and_hub_ids_pass(tiny_raw, tmp_path):
    raw = copy.deepcopy(tiny_raw)
    raw["models"]["student"]["init"] = str(tmp_path)  # an existing absolute path
    raw["models"]["teachers"]["B"]["init"] = "tencent/WeDLM-8B-Instruct"  # a hub id
    del raw["models"]["teachers"]["B"]["from_ar"]  # (only a trained teacher starts from the AR)
    cfg = validate_dict(raw, "my.yaml")
    assert cfg["models"]["student"]["init"] == str(tmp_path)


def _properties(node, where=""):
    """Every (dotted name, schema) of a `properties` mapping anywhere in the schema."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{where}.{name}".lstrip("."), sub
        for key, sub in node.items():
            yield from _properties(sub, f"{where}.{key}" if key != "properties" else where)
    elif isinstance(node, list):
        for sub in node:
            yield from _properties(sub, where)


def test_every_schema_field_has_a_description():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    missing = []
    for name, sub in _properties(schema):
        ref = sub.get("$ref", "").rsplit("/", 1)[-1]
        if "description" not in sub and "description" not in defs.get(ref, {}):
            missing.append(name)
    assert not missing, f"schema fields without a description: {missing}"


def _nulls(node, where=""):
    """Keys with no value: an unquoted ", " in a YAML flow mapping splits a description."""
    if isinstance(node, dict):
        for key, sub in node.items():
            if sub is None:
                yield f"{where}.{key}"
            yield from _nulls(sub, f"{where}.{key}")
    elif isinstance(node, list):
        for sub in node:
            yield from _nulls(sub, where)


def test_schema_has_no_keys_without_value():
    bad = list(_nulls(yaml.safe_load(SCHEMA_PATH.read_text())))
    assert not bad, f"schema keys without a value (quote descriptions with commas): {bad}"


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_cli_stops_on_bad_config_before_any_work(tmp_path, tiny_raw):
    raw = copy.deepcopy(tiny_raw)
    raw["block_size"] = "thirty-two"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    res = subprocess.run([sys.executable, "-m", "tide.cli", "--config", str(bad),
                          "--root", str(tmp_path / "results"), "corpus"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2
    assert "field block_size" in res.stderr and "thirty-two" in res.stderr
    assert not (tmp_path / "results").exists()


def _schema_node(schema, *path):
    node = schema
    for key in path:
        node = node[key]
    return node


def test_typed_tree_names_defaults_and_docs_equal_the_schema():
    """tide/config_tree.py owns the defaults, the schema validates: same fields, a default
    exactly where the schema does not require the field, the schema's description as doc."""
    import dataclasses

    from tide import config_tree as T
    from tide.distill.spec import RunSpec

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    defs = schema["$defs"]
    top = ("properties",)
    pairs = {
        T.ConfigTree: (), T.Data: top + ("data",), T.TinyData: top + ("data", "properties", "tiny"),
        T.MixtureSource: top + ("data", "properties", "sft_mixture", "items"),
        T.Tokenizers: top + ("tokenizers",), T.Models: top + ("models",),
        T.AR: top + ("models", "properties", "ar"), T.Student: top + ("models", "properties", "student"),
        T.Teacher: ("$defs", "teacher"), T.Train: ("$defs", "train"), T.Eval: top + ("eval",),
        T.Checkpoint: top + ("eval", "properties", "checkpoints", "additionalProperties"),
        T.Resources: ("$defs", "resources"), T.Distill: top + ("distill",),
    }
    problems = []
    for cls, path in pairs.items():
        node = _schema_node(schema, *path)
        props = dict(node["properties"])
        if cls is T.ConfigTree:  # the tree holds the resolved runs beside the raw section
            props["runs"] = {"description": T.ConfigTree.__dataclass_fields__["runs"]
                             .metadata["doc"]}
        required = set(node.get("required", []))
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if set(fields) != set(props):
            problems.append(f"{cls.__name__}: fields {sorted(set(fields) ^ set(props))} differ")
            continue
        for name, f in fields.items():
            has_default = (f.default is not dataclasses.MISSING
                           or f.default_factory is not dataclasses.MISSING)
            if has_default == (name in required) and name != "runs":
                problems.append(f"{cls.__name__}.{name}: default {has_default}, required "
                                f"{name in required}")
            sub = props[name]
            want = sub.get("description") or defs[sub["$ref"].rsplit("/", 1)[-1]]["description"]
            if f.metadata.get("doc") != want:
                problems.append(f"{cls.__name__}.{name}: doc {f.metadata.get('doc')!r} != "
                                f"schema {want!r}")
    run_props = (set(defs["run"]["properties"]) | set(defs["ablation"]["properties"])
                 | set(schema["properties"]["distill"]["properties"]["defaults"]["properties"]))
    # pipeline, name: the run's keys; seed: a replica's own, expanded from seeds
    spec = {f.name for f in dataclasses.fields(RunSpec)} - {"pipeline", "name", "seed"}
    if spec != run_props - {"note"}:
        problems.append(f"RunSpec: fields {sorted(spec ^ (run_props - {'note'}))} differ")
    assert not problems, "\n".join(problems)


def test_tree_of_the_shipped_configs_carries_the_defaults():
    tiny, paper = load_config(TINY).tree, load_config(PAPER).tree
    assert paper.models.teachers["A"].sharding == "replicate"  # set in paper.yaml
    assert paper.models.teachers["B"].sharding == "replicate"  # the default
    assert tiny.models.teachers["B"].target_bpb_ratio == 0.8
    assert tiny.models.ar.train.grad_clip == 1.0 and tiny.models.ar.train.warmup_ratio == 0.05
    assert paper.data.heldout_examples == 512 and tiny.eval.checkpoints == {}
    assert paper.resources["distill"].tasks == 8 and tiny.resources["default"].tasks == 1
    assert [r.model_id for r in tiny.runs][:4] == ["A_control", "A_calm", "A_tide_shared",
                                                   "A_tide_cross"]
    assert tiny.distill.seeds == 3 and paper.distill.seeds == 1  # held-out repeats (issue 15)
    assert tiny.eval.tiny_documents == 100 and paper.eval.tiny_documents is None


def test_rule_resources_read_over_the_default_rule(tiny_raw):
    """A rule's entry overrides resources.default field by field; a field neither sets takes
    the Resources default; a rule without an entry gets resources.default (Config.resources)."""
    raw = copy.deepcopy(tiny_raw)
    raw["resources"] = {"default": {"threads": 3, "mem_mb": 1000, "runtime": 7},
                        "evaluate": {"runtime": 11}}
    cfg = validate_dict(raw, "my.yaml")
    evaluate = cfg.tree.rule_resources("evaluate")
    assert (evaluate.threads, evaluate.mem_mb, evaluate.runtime) == (3, 1000, 11)
    assert (evaluate.gpus, evaluate.tasks, evaluate.nodes) == (0, 1, 1)  # Resources defaults
    assert cfg.tree.rule_resources("distill") == cfg.tree.resources["default"]
    for rule in ("evaluate", "distill"):
        typed = cfg.tree.rule_resources(rule)
        assert {k: getattr(typed, k) for k in cfg.resources(rule)} == cfg.resources(rule)


def test_preflight_config_runs_one_step_on_a_few_rows():
    """The preflight config: every main run 1 step, one document per (sub)task,
    data.limit = 2 × the largest batch of a main run (defaults < run), and it validates."""
    from tide.prefetch import preflight_config

    paper = load_config(PAPER)
    pre = validate_dict(preflight_config(paper.raw), "paper (preflight)")
    mains = pre.runs(ablations=False)
    assert {r.steps for r in mains} == {1}
    assert (pre.tree.eval.limit, pre.tree.eval.max_subtasks) == (1, 1)
    batches = [r.batch_size for r in paper.runs(ablations=False)]
    assert pre.tree.data.limit == 2 * max(batches)
    assert paper.tree.data.limit is None  # the config it came from is left as it was
