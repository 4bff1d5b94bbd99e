"""Hardware targets: each module exports one frozen ``Target`` and its check.

A target is data (quantisation, I/O dtypes, converter options, budgets) plus a check that
reads a converted model and says which ops run where and why. The types live in
``edgekit.target``; edgekit reaches these modules only through ``edgekit.registry``.

This folder installs as ``edgekit.targets`` (pyproject's ``package-dir``). Imported under any
other name (``import targets`` from the repository root), every module would load twice, with
two copies of each class, so that is refused.
"""

if __name__ != "edgekit.targets":
    raise ImportError(f"import edgekit.targets, not {__name__!r}: the targets/ folder installs as edgekit.targets (pip install -e .)")
