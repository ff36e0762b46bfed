"""TIDE: cross-architecture distillation of diffusion LLMs (arXiv 2604.26951).

The package holds all logic; Snakemake rules only call ``tide <subcommand>``.
"""

__version__ = "0.1.0"
