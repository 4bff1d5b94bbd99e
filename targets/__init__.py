"""Hardware targets: each module exports one frozen :class:`Target` and its check.

A target is data (quantisation, I/O dtypes, converter options, budgets) plus a check that
reads a converted model and says which ops run where and why. edgekit reaches targets only
through ``edgekit.registry``.
"""

from targets._base import FLOAT_MODES, INTEGER_MODES, OpPlacement, Target, TargetReport

__all__ = ["FLOAT_MODES", "INTEGER_MODES", "OpPlacement", "Target", "TargetReport"]
