"""edgekit.converters.c_array: the emitted C++ compiles, links, is aligned and holds exactly the bytes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.converters.c_array import c_array
from edgekit.errors import InputError

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")

DUMP_MAIN = r"""
#include <cstdint>
#include <cstdio>
#include "model_data.h"
int main() {
  if (reinterpret_cast<std::uintptr_t>(g_model_data) % ALIGNMENT != 0) return 3;
  std::fwrite(g_model_data, 1, g_model_data_len, stdout);
  return 0;
}
"""


def _array_bytes(source: str) -> bytes:
    body = source[source.index("{") + 1 : source.index("};")]
    return bytes(int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", body))


@given(st.binary(min_size=1, max_size=600))
@settings(max_examples=60, deadline=None)
def test_source_holds_exactly_the_bytes(data):
    array = c_array(data)
    assert _array_bytes(array.source) == data
    assert f"g_model_data_len = {len(data)};" in array.source


def test_files_are_named_after_the_header():
    array = c_array(b"TFL3", variable="g_kws", header_name="kws_model.h", comment="kws")
    assert set(array.files()) == {"kws_model.h", "kws_model.cc"}
    assert '#include "kws_model.h"' in array.source
    assert "extern const unsigned char g_kws[];" in array.header
    assert "#ifndef EDGEKIT_KWS_MODEL_H_" in array.header


def test_output_is_deterministic():
    assert c_array(b"\x00\x01" * 50).files() == c_array(b"\x00\x01" * 50).files()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"data": b""}, "non-empty"),
        ({"data": b"x", "variable": "1model"}, "identifier"),
        ({"data": b"x", "variable": "g-model"}, "identifier"),
        ({"data": b"x", "header_name": "../model.h"}, "plain file name"),
        ({"data": b"x", "header_name": "model.hpp"}, "plain file name"),
        ({"data": b"x", "alignment": 24}, "power of two"),
        ({"data": b"x", "alignment": 0}, "power of two"),
        ({"data": b"x", "comment": "two\nlines"}, "single line"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    data = kwargs.pop("data")
    with pytest.raises(InputError, match=message):
        c_array(data, **kwargs)


@needs_gxx
@pytest.mark.parametrize("size, alignment", [(1, 16), (13, 16), (4099, 64)])
def test_compiles_links_and_round_trips(tmp_path, size, alignment):
    data = bytes((i * 37 + 11) % 256 for i in range(size))
    for name, content in c_array(data, alignment=alignment).files().items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "main.cc").write_text(DUMP_MAIN)
    program = tmp_path / "dump"
    subprocess.run(
        [GXX, "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-DALIGNMENT={alignment}", "main.cc", "model_data.cc", "-o", str(program)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    done = subprocess.run([str(program)], capture_output=True, check=False)
    assert done.returncode == 0, "array is not aligned"
    assert done.stdout == data


@needs_gxx
def test_tiny_model_array_compiles(tmp_path, tiny_tflite):
    for name, content in c_array(tiny_tflite["int8"]).files().items():
        (tmp_path / name).write_bytes(content)
    subprocess.run([GXX, "-std=c++11", "-Wall", "-Werror", "-c", "model_data.cc"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "model_data.o").stat().st_size > len(tiny_tflite["int8"])
