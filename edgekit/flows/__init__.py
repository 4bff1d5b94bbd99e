"""The commands as flows: each a short sequence of the stages in ``edgekit.flows.stages``.

``build`` (a recipe end to end), ``convert`` (a trained model file, one target), ``sweep/``
(a grid of variants from one float model), ``fit/`` (the most accurate model within budgets),
``analyze`` (per-layer sensitivity) and ``compress`` (the one-call Python API). The flows are
the only code that reads a whole recipe; ``from_recipe`` unpacks it into what the stages take
(steps, settings, checkpoint keys), ``checkpoints`` and ``model_cache`` keep the trained
models, ``progress`` is what long flows report. A new command is a new flow over the same stages.
"""
