"""Reports: one report dict rendered as text (``text``), Markdown, CSV, HTML (``html``) and
plots (``plots``, ``pareto``), ``fit``'s own tables and plots (``fit``), and the one writer of a
report folder (``files``)."""
