"""The commands as flows: each a short sequence of ``edgekit.stages``.

``build`` (a recipe end to end), ``convert`` (a trained model file, one target), ``sweep``
(a grid of variants from one float model) and ``analyze`` (per-layer sensitivity). A new
command (budget search, another importer) is a new flow over the same stages.
"""
