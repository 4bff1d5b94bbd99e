"""``edgekit fit``: budgets in, the most accurate model that fits out.

``search`` runs the search (train the teacher, estimate untrained, successive halving, ship the
winner), ``space`` says what is searched and what must be met (budgets, candidates, candidate
recipes), ``measure`` judges one candidate on its shipped artifact, ``records`` keeps finished
results so Ctrl-C loses nothing.
"""

from edgekit.flows.fit.search import FitResult, fit

__all__ = ["FitResult", "fit"]
