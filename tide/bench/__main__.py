"""``python -m tide.bench``: the same as ``tide bench``, without the workflow's dependencies
(for a bare GPU image with only torch and transformers)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from tide.bench import add_arguments, main_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tide.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="results", help="results directory")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    return main_from_args(args, args.root,
                          ["python", "-m", "tide.bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
