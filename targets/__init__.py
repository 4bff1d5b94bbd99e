"""Hardware targets: each module exports one frozen ``Target`` and its check.

A target is data (quantisation, I/O dtypes, converter options, budgets) plus a check that
reads a converted model and says which ops run where and why. The types live in
``edgekit.target``; edgekit reaches these modules only through ``edgekit.registry``.
"""
