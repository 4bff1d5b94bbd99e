"""Models in: loading Keras files, SavedModels and factories (``load``, ``saved_model``),
refusing files that carry code or unknown ops (``scan``, ``graph_scan``), and reading a model's
inputs and outputs the way every stage measures them (``keras_io``, ``shapes``)."""
