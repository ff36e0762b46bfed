"""One distillation run's settings (``distill.defaults`` < base run < the run's own fields).

Lives with the losses that read it; ``tide.config.Config.runs()`` builds it from the
validated config. Imports nothing beyond the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    axis: str | None = None  # ablations: the docs/method.md §4 axis
    seeds: list | None = None  # training seeds (config); expanded by Config.runs()
    seed: int | None = None  # this replica's training seed (None: the config's seed)

    @property
    def is_ablation(self) -> bool:
        return self.base is not None

    @property
    def model_id(self) -> str:
        """Identifier used for evaluation outputs: ``{pipeline}_{run}``."""
        return f"{self.pipeline}_{self.name}"

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        for k in ("seeds", "seed"):  # absent unless set: existing runs' params stay the same
            if d[k] is None:
                d.pop(k)
        return d
