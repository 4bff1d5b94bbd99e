"""Pure functions that turn one artifact into another and return bytes or a result object.

They make no decisions about files or folders; edgekit's stages and CLI do that.

This folder installs as ``edgekit.converters`` (pyproject's ``package-dir``); under any other
name (``import converters`` from the repository root, or PyPI's unrelated ``converters``
package) its modules would load twice or clash, so that is refused.
"""

if __name__ != "edgekit.converters":
    raise ImportError(f"import edgekit.converters, not {__name__!r}: the converters/ folder installs as edgekit.converters (pip install -e .)")
