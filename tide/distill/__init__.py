"""Distillation objectives (docs/method.md §1–2).

- ``tidal``: TIDAL λ(t, p) schedule, timestep weights, token- and chunk-level losses (§1.1)
- ``compdemo``: complementary demonstration split and merge of teacher passes (§1.2)
- ``kl``: forward / reverse token KL baselines and masked-position selection (§2)
- ``calm``: chunk log-probabilities and forward / reverse CALM (§1.3)
- ``chunks``: minimal byte-level chunk alignment between two tokenizers (§1.3)
- ``objective``: loss assembly per variant (§2)

Submodules are imported on use, so ``tide.distill.chunks`` stays light at data-building time.
"""
