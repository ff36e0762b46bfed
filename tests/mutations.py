"""Mutation testing for the distillation formulas: every listed bug must turn a test red.

    python tests/mutations.py            # all mutants; exit 1 if any survives
    python tests/mutations.py --list     # names, files and the tests that should kill them

Each mutant is a targeted string replacement in a COPY of ``tide/`` (a temp directory;
the working tree is never touched).  The tests run against the copy are those in
``TEST_FILES`` whose docstring says ``Catches: <family>``; a mutant
is killed when pytest fails (exit 1).  A patch that no longer matches the source, a
mutant with no tagged test, or an unmutated copy that fails is an error (exit 2).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_FILES = ("tests/test_distill_formulas.py", "tests/test_train_objective.py")


@dataclass(frozen=True)
class Mutant:
    family: str  # the name test docstrings use in "Catches: ..."
    where: str  # function mutated, for the table
    file: str  # path relative to the repo root
    old: str  # must occur exactly once in the file
    new: str


MUTANTS = [
    Mutant("drop T²", "tidal.tidal_token_loss", "tide/distill/tidal.py",
           "(target * log_q).sum(-1)  # [N]\n    return (weight.float().to(s.device) * kl).sum() / n"
           " * temperature ** 2",
           "(target * log_q).sum(-1)  # [N]\n    return (weight.float().to(s.device) * kl).sum() / n"),
    Mutant("drop T²", "kl.forward_kl_loss", "tide/distill/kl.py",
           "_kl_rows(log_p, log_q).mean() * temperature ** 2", "_kl_rows(log_p, log_q).mean()"),
    Mutant("drop T²", "kl.reverse_kl_loss", "tide/distill/kl.py",
           "_kl_rows(log_q, log_p).mean() * temperature ** 2", "_kl_rows(log_q, log_p).mean()"),
    Mutant("swap the KL direction", "kl.forward_kl_loss", "tide/distill/kl.py",
           "_kl_rows(log_p, log_q).mean()", "_kl_rows(log_q, log_p).mean()"),
    Mutant("swap the KL direction", "kl.reverse_kl_loss", "tide/distill/kl.py",
           "_kl_rows(log_q, log_p).mean()", "_kl_rows(log_p, log_q).mean()"),
    Mutant("swap the KL direction", "tidal.tidal_token_loss", "tide/distill/tidal.py",
           "kl = torch.special.xlogy(target, target).sum(-1) - (target * log_q).sum(-1)",
           "kl = (log_q.exp() * (log_q - target.log())).sum(-1)"),
    Mutant("swap the CALM direction", "calm.forward_calm_loss", "tide/distill/calm.py",
           "-(p_t * torch.log(p_s) + (1.0 - p_t) * torch.log1p(-p_s)).mean()",
           "-(p_s * torch.log(p_t) + (1.0 - p_s) * torch.log1p(-p_t)).mean()"),
    Mutant("mix chunk-TIDAL in logit space", "tidal.tidal_chunk_loss", "tide/distill/tidal.py",
           "mix = (1.0 - lam) * p_s + lam * p_t",
           "mix = torch.sigmoid((1.0 - lam) * torch.logit(p_s) + lam * torch.logit(p_t))"),
    Mutant("forget the TIDAL detach", "tidal.tidal_token_loss", "tide/distill/tidal.py",
           "with torch.no_grad():\n        target = torch.softmax",
           "if True:\n        target = torch.softmax"),
    Mutant("score unmasked positions", "kl.select_masked", "tide/distill/kl.py",
           "return logits[mask.bool()]", "return logits.flatten(0, 1)"),
    Mutant("score unmasked positions", "compdemo.split_masked_units", "tide/distill/compdemo.py",
           "a = masked & (u.to(masked.device) < rho)", "a = u.to(masked.device) < rho"),
    Mutant("score unmasked positions", "objective._token_term", "tide/distill/objective.py",
           "pair_masked = pv & masked[bidx, ps]", "pair_masked = pv.clone()"),
    Mutant("score unmasked positions", "objective.chunk_consistent_mask",
           "tide/distill/objective.py",
           "return masked | grown, chunk_masked, chunk_masked & ~touches_prompt",
           "return masked | grown, chunk_masked, valid & ~touches_prompt"),
    Mutant("reuse the CompDemo split", "compdemo.split_masked_units (fixed seed)",
           "tide/distill/compdemo.py",
           "generator=generator, device=generator.device)",
           "generator=torch.Generator(generator.device).manual_seed(0), "
           "device=generator.device)"),
    Mutant("reuse the CompDemo split", "compdemo.split_masked_units (one row for all)",
           "tide/distill/compdemo.py",
           "torch.rand(masked.shape, generator=generator, device=generator.device)",
           "torch.rand(masked.shape[1:], generator=generator, device=generator.device)"
           ".expand(masked.shape)"),
    Mutant("merge the wrong pass", "compdemo.merge_pass_logits_", "tide/distill/compdemo.py",
           "pass1[mask] = pass2[mask]", "pass1[~mask] = pass2[~mask]"),
]


def tagged_tests() -> dict[str, list[str]]:
    """family -> pytest node ids of tests whose docstring has ``Catches: family; ...``."""
    out: dict[str, list[str]] = {}
    for test_file in TEST_FILES:
        for node in ast.parse((REPO / test_file).read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                match = re.search(r"Catches:\s*([^\n]+)", ast.get_docstring(node) or "")
                for family in (match.group(1).split(";") if match else []):
                    out.setdefault(family.strip(), []).append(f"{test_file}::{node.name}")
    return out


def make_copy(tmp: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "tide", tmp / "tide", ignore=ignore)
    (tmp / "tests").mkdir()
    for test_file in TEST_FILES:
        shutil.copy2(REPO / test_file, tmp / test_file)
    shutil.copy2(REPO / "pyproject.toml", tmp / "pyproject.toml")  # pytest settings


def run_pytest(tmp: Path, tests: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True).returncode


def check_import_location(tmp: Path) -> None:
    """The copy, not the editable install, must be what the tests import."""
    env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    found = subprocess.run([sys.executable, "-c", "import tide.distill.kl as m; print(m.__file__)"],
                           cwd=tmp, env=env, capture_output=True, text=True).stdout.strip()
    if not found.startswith(str(tmp)):
        sys.exit(f"error: tests would import {found!r}, not the mutated copy in {tmp}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="show mutants and their tests")
    args = parser.parse_args(argv)
    tags = tagged_tests()
    if args.list:
        for m in MUTANTS:
            print(f"{m.family:32} {m.where:48} {', '.join(tags.get(m.family, ['(none)']))}")
        return 0

    rows, bad = [], 0
    with tempfile.TemporaryDirectory(prefix="tide-mutants-") as tmp_name:
        tmp = Path(tmp_name)
        make_copy(tmp)
        check_import_location(tmp)
        all_tagged = sorted({t for m in MUTANTS for t in tags.get(m.family, [])})
        if run_pytest(tmp, all_tagged) != 0:
            print("error: the tagged tests fail on the UNMUTATED copy", file=sys.stderr)
            return 2
        for m in MUTANTS:
            start = time.time()
            target = tmp / m.file
            original = (REPO / m.file).read_text()
            tests = tags.get(m.family, [])
            if original.count(m.old) != 1:
                verdict = f"ERROR: patch matches {original.count(m.old)}× (must be 1)"
            elif not tests:
                verdict = "ERROR: no test is tagged 'Catches: " + m.family + "'"
            else:
                target.write_text(original.replace(m.old, m.new))
                rc = run_pytest(tmp, tests)
                target.write_text(original)
                verdict = {0: "SURVIVED", 1: "killed"}.get(rc, f"ERROR: pytest exit {rc}")
            bad += verdict != "killed"
            rows.append((m.family, m.where, verdict, len(tests), time.time() - start))

    print(f"{'mutation':32} {'mutated function':48} {'result':10} tests  time")
    for family, where, verdict, n, secs in rows:
        print(f"{family:32} {where:48} {verdict:10} {n:5}  {secs:4.1f}s")
    killed = sum(r[2] == "killed" for r in rows)
    print(f"{killed}/{len(rows)} mutants killed")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
