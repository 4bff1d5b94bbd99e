"""Devices over SSH: ``ssh`` runs checked commands on a host (key auth, pinned host keys,
timeouts), ``deploy`` copies verified bundles there and benchmarks them with the device's own
runtime."""
