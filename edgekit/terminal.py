"""Text from models, bundles and files, made safe to print on a terminal.

Labels, names, paths and messages come from files edgekit did not write. Printed raw, a
carriage return or newline forges a line ("looks-like: 7 (0.999)"), an escape sequence
recolours the screen, moves the cursor or writes the clipboard (OSC 52), and bidirectional
overrides reorder what is shown. Like ``ls -q``/``ls -b`` and git's ``core.quotePath``, every
such character is shown as an escape instead: C0 and C1 controls, DEL, line and paragraph
separators and format characters (bidi overrides, zero-width characters). ``--json`` output is
the exception: it carries the raw text, JSON-escaped by ``json.dumps``.
"""

from __future__ import annotations

import contextlib
import sys
import unicodedata
from typing import Iterator

__all__ = ["printable", "safe_line", "safe_stdout", "safe_text"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


def unsafe(char: str) -> bool:
    """Whether a character must not reach a terminal as itself."""
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def escape_char(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_line(text: str) -> str:
    """One line of prose (an error, a log message): every unsafe character escaped, newlines too."""
    text = str(text)
    if not any(unsafe(c) for c in text):
        return text
    return "".join(escape_char(c) if unsafe(c) else c for c in text)


def safe_text(text: str) -> str:
    """Several lines (a table, a report): each line made safe, the newlines between them kept."""
    return "\n".join(safe_line(line) for line in str(text).split("\n"))


def printable(value: object) -> str:
    """One field (a label, a name, a path) as git's quotePath shows it: unchanged when it is
    plain, else in double quotes with its unsafe characters, quotes and backslashes escaped,
    so an escaped name can never look like a plain one."""
    text = str(value)
    if not any(unsafe(c) for c in text):
        return text
    escaped = "".join(escape_char(c) if unsafe(c) else "\\" + c if c in '"\\' else c for c in text)
    return f'"{escaped}"'


class _SafeWriter:
    """A text stream that escapes unsafe characters (all but newlines) on their way out."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # a text stream, as click's probe of it expects
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(safe_text(text))
        return len(text)

    def __getattr__(self, name):  # encoding, flush, isatty, fileno... as the real stream has them
        if name == "buffer":  # no way around the escaping through the binary buffer
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextlib.contextmanager
def safe_stdout() -> Iterator[None]:
    """While a command runs, what it prints on stdout is escaped (``--json`` output has no raw
    control characters to escape: ``json.dumps`` writes them as ``\\u001b``)."""
    original = sys.stdout
    if original is None or isinstance(original, _SafeWriter):
        yield
        return
    sys.stdout = _SafeWriter(original)
    try:
        yield
    finally:
        sys.stdout = original
