"""lm-eval's own command line with ``tide_bd3lm`` registered (issue 14).

lm-eval 0.4.13 has no plugin entry points: ``lm_eval --model tide_bd3lm`` fails with "no
model for this name found" because our model registers only when ``tide.eval.lm`` is
imported. ``python -m tide.eval.cli <lm_eval flags>`` (or ``tide lm-eval -- <flags>``)
imports it, then hands every flag to lm-eval's CLI unchanged. Every ``score.json`` records
the command of this form that reproduces it (:func:`lm_eval_command`).
"""

from __future__ import annotations

import os
import shlex
import sys

#: benchmarks whose metric executes generated code (lm-eval refuses without the flag)
CODE_BENCHMARKS = ("humaneval", "mbpp")


def lm_eval_command(model: str, args: dict, bench, *, batch_size: int, limit=None,
                    seed: int | None = None, include_path: str | os.PathLike | None = None,
                    python: str = "python") -> str:
    """The command that reruns one evaluation through lm-eval's CLI (recorded in score.json).

    The chat template, multi-turn few-shot, seeds and our task files (``--include_path``:
    tide/eval/tasks, or the derived offline YAMLs kept next to the result) as in
    ``tide.eval.run``; ``--confirm_run_unsafe_code`` only where code runs.
    """
    from tide.eval.taskfiles import TASKS_DIR

    margs = ",".join(f"{k}={v}" for k, v in args.items())
    cmd = [python, "-m", "tide.eval.cli", "--model", model, "--model_args", margs,
           "--tasks", bench.task, "--num_fewshot", str(bench.num_fewshot),
           "--batch_size", str(batch_size), "--apply_chat_template", "--fewshot_as_multiturn",
           "--include_path", str(include_path or TASKS_DIR),
           # lm-eval's CLI passes its own --device (default cuda) over model_args'
           "--device", str(args.get("device") or "cpu")]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if bench.name in CODE_BENCHMARKS:
        cmd += ["--confirm_run_unsafe_code"]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    return shlex.join(cmd)


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's CLI on ``argv`` (default: this process's arguments) with our models."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    import lm_eval.models  # noqa: F401  (built-ins first: docs/method.md §P3)
    from lm_eval.__main__ import cli_evaluate

    import tide.eval.lm  # noqa: F401  (registers tide_bd3lm)

    sys.argv = ["lm_eval", *argv]  # lm-eval's parser reads sys.argv
    cli_evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
