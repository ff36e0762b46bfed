"""Every mutant of tests/mutations.py is killed by the formula tests (about 45 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "mutations.py"


@pytest.mark.slow
def test_every_mutation_is_killed():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=600)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    rows = [line for line in proc.stdout.splitlines() if " killed " in line
            or "SURVIVED" in line or "ERROR" in line]
    assert rows and all(" killed " in line for line in rows), report
    for family in ("drop T²", "swap the KL direction", "mix chunk-TIDAL in logit space",
                   "score unmasked positions", "reuse the CompDemo split"):
        assert any(line.startswith(family) for line in rows), f"{family!r} not run\n{report}"
