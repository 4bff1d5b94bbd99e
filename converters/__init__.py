"""Pure functions that turn one artifact into another and return bytes or a result object.

They make no decisions about files or folders; edgekit's pipeline and CLI do that.
"""

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")

__all__ = ["QUANTIZATIONS"]
