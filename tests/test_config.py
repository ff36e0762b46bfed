"""Config validation: both shipped configs validate; bad input names file, field, expected, found."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tide.config import ConfigError, load_config, validate_dict

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
