"""How often does a damaged .tflite crash the LiteRT interpreter, with and without edgekit's check?

For each model, many damaged copies (``tests/_mutate.py``) are each loaded, allocated and
invoked by the real interpreter in a forked child, so a crash (SIGSEGV, SIGABRT) is counted
instead of killing this script. Each copy is also given to ``edgekit.tflite_verify``: the
numbers show which crashes the check prevents and whether any copy it accepts still crashes.

    python benchmarks/mutate_tflite.py [--count 600] MODEL.tflite ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from edgekit.errors import ModelError  # noqa: E402
from edgekit.tflite_verify import verify_tflite  # noqa: E402
from tests._mutate import mutations  # noqa: E402


def run_in_child(data: bytes) -> int:
    """Load, allocate and invoke ``data``; exit status 0 ok, 3 Python error, <0 killed by a signal."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            interpreter = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            interpreter.allocate_tensors()
            for detail in interpreter.get_input_details():
                interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            interpreter.invoke()
        except Exception:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def campaign(path: Path, count: int, seed: int) -> dict:
    counts: Counter = Counter()
    for kind, data in mutations(path.read_bytes(), count, seed):
        try:
            verify_tflite(data)
            verified = True
        except ModelError:
            verified = False
        status = run_in_child(data)
        crashed = status < 0
        counts["tried"] += 1
        counts["rejected_by_check"] += not verified
        counts["interpreter_crashes"] += crashed
        counts["crashes_prevented"] += crashed and not verified
        counts["crashes_after_check"] += crashed and verified
        if crashed and verified:
            Path(f"crash-{path.stem}-{counts['tried']}.tflite").write_bytes(data)
    return {"model": path.name, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [campaign(path, args.count, args.seed) for path in args.models]
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
