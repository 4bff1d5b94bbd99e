"""Regenerate ``edgekit/tflite/_schema.py`` from an installed TFLite schema module.

edgekit reads .tflite files without TensorFlow or LiteRT, so it carries the few facts of the
TFLite flatbuffer schema it needs: enum names and, per table, each field's vtable offset, type
and default. They are read off the flatc-generated ``schema_py_generated.py`` that
``ai_edge_litert`` (or TensorFlow) ships, so the numbers come from the schema, not from hand.

Usage: ``python tests/gen_tflite_schema.py > edgekit/tflite/_schema.py``.
``tests/test_tflite_graph.py`` checks that the committed module matches the installed schema.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys

# The tables edgekit's reader walks (options tables are added from the BuiltinOptions unions).
CORE_TABLES = (
    "Model",
    "OperatorCode",
    "SubGraph",
    "Tensor",
    "QuantizationParameters",
    "Operator",
    "Buffer",
    "Metadata",
    "SignatureDef",
    "TensorMap",
)
ENUMS = ("TensorType", "BuiltinOperator", "ActivationFunctionType", "Padding", "BuiltinOptions", "BuiltinOptions2")
# union field -> the enum that names its member tables
UNIONS = {("Operator", "builtin_options"): "BuiltinOptions", ("Operator", "builtin_options2"): "BuiltinOptions2"}

_ACCESSOR = re.compile(r"    # \w+\n    def (?P<name>[A-Z]\w*)\(self(?P<j>, j)?\):\n(?P<body>(?:        .*\n|\n)+?)(?=\n    # |\ndef |\Z)")
_OFFSET = re.compile(r"self\._tab\.Offset\((\d+)\)")
_NUMBER = re.compile(r"number_types\.(\w+)Flags, (?:o|a) \+")
_OBJECT = re.compile(r"obj = (\w+)\(\)")
_DEFAULT = re.compile(r"\n        return (.+)\n*$")
_SKIP_SUFFIXES = ("AsNumpy", "Length", "IsNone")


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def field_kind(body: str, vector: bool) -> str | None:
    """'Int32', '[Int32]', 'string', 'Tensor', '[Tensor]', 'union' or None (not read)."""
    if "self._tab.Union(" in body:
        return "union"
    if "self._tab.String(" in body:
        return "[string]" if vector else "string"
    obj = _OBJECT.search(body)
    if obj:
        if "Indirect" not in body:
            return None  # inline structs: none of the tables edgekit reads need them
        return f"[{obj.group(1)}]" if vector else obj.group(1)
    number = _NUMBER.search(body)
    if number:
        return f"[{number.group(1)}]" if vector else number.group(1)
    return None


def class_sources(module) -> dict[str, str]:
    """Each top-level class's source text (inspect.getsource re-parses the module per call: too slow)."""
    text = inspect.getsource(module)
    starts = [(m.group(1), m.start()) for m in re.finditer(r"^class (\w+)\(object\):", text, re.M)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {name: text[start:end] for (name, start), end in zip(starts, ends)}


def table_fields(source: str) -> tuple:
    fields = []
    for match in _ACCESSOR.finditer(source):
        name, body = match.group("name"), match.group("body")
        if name == "Init" or name.endswith(_SKIP_SUFFIXES) or "GetRootAs" in name:
            continue
        offset = _OFFSET.search(body)
        kind = field_kind(body, bool(match.group("j")))
        if offset is None or kind is None:
            continue
        default = ast.literal_eval(_DEFAULT.search(body).group(1)) if kind in _SCALARS else None
        fields.append((snake(name), int(offset.group(1)), kind, default))
    return tuple(fields)


_SCALARS = {"Bool", "Int8", "Uint8", "Int16", "Uint16", "Int32", "Uint32", "Int64", "Uint64", "Float32", "Float64"}


def enum_values(cls) -> dict:
    return {value: key for key, value in vars(cls).items() if not key.startswith("_") and isinstance(value, int)}


def generate(module) -> str:
    enums = {name: enum_values(getattr(module, name)) for name in ENUMS}
    sources = class_sources(module)
    tables = {}
    pending = list(CORE_TABLES) + [n for u in ("BuiltinOptions", "BuiltinOptions2") for k, n in sorted(enums[u].items()) if k]
    while pending:
        name = pending.pop(0)
        if name in tables or name not in sources:
            continue
        tables[name] = table_fields(sources[name])
        for field in tables[name]:
            nested = field[2].strip("[]")
            if nested[0].isupper() and nested not in _SCALARS and name in CORE_TABLES and nested in CORE_TABLES:
                pending.append(nested)
    lines = [HEADER, f"ENUMS = {enums!r}", "", "TABLES = {"]
    for name, fields in tables.items():
        lines.append(f"    {name!r}: {fields!r},")
    lines += ["}", "", f"UNIONS = {UNIONS!r}", ""]
    return "\n".join(lines)


HEADER = '''# Copyright 2017 The TensorFlow Authors. All Rights Reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Facts of the TFLite flatbuffer schema (schema.fbs, Apache-2.0) that edgekit's reader needs.

GENERATED by ``python tests/gen_tflite_schema.py > edgekit/tflite/_schema.py`` from the
flatc-generated ``schema_py_generated.py`` that ai_edge_litert ships; do not edit by hand.
``TABLES`` maps a table to its fields as (name, vtable offset, type, default): a type is a
flatbuffers scalar (``Int32``), ``string``, a table name, ``[...]`` for a vector, or ``union``.
"""

# fmt: off
'''


def load_schema_module():
    for name in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise SystemExit("no installed TFLite schema module (install ai-edge-litert)")


if __name__ == "__main__":
    sys.stdout.write(generate(load_schema_module()))
