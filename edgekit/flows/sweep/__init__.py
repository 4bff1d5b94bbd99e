"""``edgekit sweep``: one trained float model, a grid of sparsity x quantisation x target.

``run`` computes and records the variants, ``grid`` plans them (their recipes and keys),
``resume`` decides whether a finished variant's record may be believed.
"""

from edgekit.flows.sweep.run import SweepResult, sweep

__all__ = ["SweepResult", "sweep"]
