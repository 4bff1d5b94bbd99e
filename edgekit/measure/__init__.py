"""Measuring an artifact through the real interpreter: ``evaluate`` (size, weights, latency,
task figures), ``fidelity`` (every output against the float model), ``tasks`` (what the outputs
mean and which metrics follow)."""
