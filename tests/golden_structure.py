"""Reduce JSON to its structure (keys and value types) for golden-file comparisons."""


def structure(value):
    """Dicts keep their keys, lists collapse to their first item's structure, leaves become type names."""
    if isinstance(value, dict):
        return {key: structure(item) for key, item in value.items()}
    if isinstance(value, list):
        return [structure(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__
