"""How often does a damaged .tflite crash the LiteRT interpreter, with and without edgekit's check?

For each model, many damaged copies (``tests/_mutate.py``) are each loaded, allocated and
invoked by the real interpreter in a forked child, so a crash (SIGSEGV, SIGABRT) is counted
instead of killing this script. Each copy is also given to ``edgekit.tflite.verify``: the
numbers show which crashes the check prevents and whether any copy it accepts still crashes.

    python benchmarks/mutate_tflite.py [--count 600] [--seed 0] [--xnnpack] MODEL.tflite ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgekit.errors import ModelError  # noqa: E402
from edgekit.tflite.verify import verify_tflite  # noqa: E402
from tests._mutate import mutations, run_in_child  # noqa: E402


def campaign(path: Path, count: int, seed: int, xnnpack: bool) -> dict:
    counts: Counter = Counter()
    for kind, data in mutations(path.read_bytes(), count, seed):
        try:
            verify_tflite(data)
            verified = True
        except ModelError:
            verified = False
        status = run_in_child(data, xnnpack=xnnpack)
        crashed = status < 0
        counts["tried"] += 1
        counts["rejected_by_check"] += not verified
        counts["interpreter_crashes"] += crashed
        counts["crashes_prevented"] += crashed and not verified
        counts["crashes_after_check"] += crashed and verified
        if crashed and verified:
            Path(f"crash-{path.stem}-{counts['tried']}.tflite").write_bytes(data)
    return {"model": path.name, "kernels": "xnnpack" if xnnpack else "reference", "seed": seed, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--xnnpack", action="store_true", help="use LiteRT's default XNNPACK delegate")
    args = parser.parse_args()
    rows = [campaign(path, args.count, args.seed, args.xnnpack) for path in args.models]
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
