"""Run damaged models through the real runtime in a process of its own (no TensorFlow).

``python -m tests._crash_probe cases`` reads [{"model": path, "edits": [[offset, byte], ...],
"run_raw": bool}] as JSON on stdin and prints, per case, the raw interpreter's exit status in a
forked child (negative: killed by that signal; None when not run) and what
``edgekit.runtime.open_model`` said.

``python -m tests._crash_probe fuzz MODEL COUNT SEED`` opens COUNT mutated copies with
``open_model`` and runs them, in this process: a native crash kills it (negative exit code)
and the last ``trying`` line names the copy. Anything but ModelError is printed as ESCAPED.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from edgekit.errors import ModelError
from edgekit.runtime import open_model
from tests._mutate import mutations, run_in_child


def apply(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for offset, value in edits:
        out[offset] = value
    return bytes(out)


def cases() -> None:
    results = []
    for case in json.load(sys.stdin):
        with open(case["model"], "rb") as handle:
            data = apply(handle.read(), case["edits"])
        status = run_in_child(data) if case.get("run_raw", True) else None
        try:
            open_model(data)
            message = None
        except ModelError as exc:
            message = str(exc)
        results.append({"raw_status": status, "open_model_error": message})
    print(json.dumps(results))


def fuzz(model: str, count: int, seed: int) -> None:
    with open(model, "rb") as handle:
        original = handle.read()
    tally = {"rejected": 0, "ran": 0}
    for index, (kind, data) in enumerate(mutations(original, count, seed)):
        print(f"trying {model} #{index} ({kind})", flush=True)
        try:
            runner = open_model(data)
        except ModelError:
            tally["rejected"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to report it
            print(f"ESCAPED {type(exc).__name__}: {exc}", flush=True)
            continue
        try:
            runner.set_raw_input(np.zeros(runner.inputs[0].shape, runner.inputs[0].dtype))
            runner.invoke()
            tally["ran"] += 1
        except (RuntimeError, ValueError):  # the interpreter refused to run it: no crash
            tally["invoke_refused"] = tally.get("invoke_refused", 0) + 1
    print("TALLY " + json.dumps(tally), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "cases":
        cases()
    else:
        fuzz(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
