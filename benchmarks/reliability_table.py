"""Measure the reliability table (docs/reliability.md): run every bad-input case, the kill tests, the
reproducibility test and the fuzzers, and print what happened as Markdown.

    python benchmarks/reliability_table.py [--skip-slow]

Numbers come from running them now on this machine, not from counting the tables: a case
counts as clean only if its process exited with the expected code, printed exactly one
``error:`` line naming the problem, no traceback, and left nothing behind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def tiny_tflite() -> bytes:
    """An int8 model of the tiny CNN (untrained: only its structure matters here)."""
    import numpy as np

    from edgekit.converters.keras_tflite import convert_keras
    from tests.conftest import tiny_cnn

    x = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
    return convert_keras(tiny_cnn(), quantization="int8", io_dtype="int8", representative_data=x, calibration_samples=32)


def bad_input_rows(folder: Path) -> list[str]:
    from tests.bad_inputs import all_cases, build_workspace, run_cases

    names = build_workspace(folder, tiny_tflite())
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outcomes = run_cases(all_cases(), names, env)
    by_command = defaultdict(list)
    for outcome in outcomes:
        by_command[outcome.case.command].append(outcome)
    rows = ["| command | bad inputs tried | clear one-line error | right exit code | no traceback | nothing left behind | median s |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for command, group in sorted(by_command.items()):
        problems = [o.problems() for o in group]
        rows.append(
            f"| `{command}` | {len(group)} | {sum(not any(p.startswith(('not exactly', 'message')) for p in ps) for ps in problems)}"
            f" | {sum(not any(p.startswith('exit code') for p in ps) for ps in problems)}"
            f" | {sum('a Python traceback' not in ps for ps in problems)}"
            f" | {sum(not any(p.startswith('left files') for p in ps) for ps in problems)}"
            f" | {statistics.median(o.seconds for o in group):.1f} |"
        )
    failures = [(o.case, o.problems()) for o in outcomes if o.problems()]
    for case, found in failures:
        rows.append(f"\nFAILED {case.command}: {case.what}: {found}")
    return rows


def pytest_rows(tests: list[str], marker: str) -> dict[str, tuple[int, int, float]]:
    """{test file: (passed, total, seconds)} from a pytest run's junit report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", marker, f"--junitxml={report}", *tests],
            cwd=REPO, capture_output=True, text=True,
        )
        results: dict[str, list] = defaultdict(lambda: [0, 0, 0.0])
        for case in ElementTree.parse(report).iter("testcase"):
            name = case.get("classname", "").rsplit(".", 1)[-1]
            entry = results[name]
            entry[1] += 1
            entry[2] += float(case.get("time", 0))
            problems = [child for child in case if child.tag in ("failure", "error", "skipped")]
            if not problems:
                entry[0] += 1
            for problem in problems:  # say what did not pass rather than only counting it
                print(f"{problem.tag}: {name}::{case.get('name')}: {(problem.get('message') or '')[:300]}", file=sys.stderr)
    return {name: tuple(values) for name, values in results.items()}


def other_rows(skip_slow: bool) -> list[str]:
    from tests.test_interrupt import BUILD_KILL_POINTS, RANDOM_KILLS
    from tests.test_resume import KILL_CHAIN

    marker = "not slow" if skip_slow else "slow or not slow"
    results = pytest_rows(
        ["tests/test_interrupt.py", "tests/test_resume.py", "tests/test_reproducible.py", "tests/test_fuzz_recipe.py", "tests/test_fuzz_manifest.py",
         "tests/test_fuzz_inspect.py", "tests/test_tflite_verify.py", "tests/test_ziputil.py", "tests/test_model_safety.py",
         "tests/test_recipe_paths.py", "tests/test_output_safety.py", "tests/test_graph_scan.py", "tests/test_signing.py",
         "tests/test_resume_state.py", "tests/test_escaping.py", "tests/test_budgets.py", "tests/test_ssh_safety.py",
         "tests/test_runaway_models.py", "tests/test_hostile_bundles.py", "tests/test_record_trust.py", "tests/test_output_ownership.py",
         "tests/test_input_shapes.py"],
        marker,
    )
    rows = ["| check | tests passed | seconds |", "|---|---:|---:|"]
    for name, (passed, total, seconds) in sorted(results.items()):
        rows.append(f"| `{name}` | {passed}/{total} | {seconds:.0f} |")
    builds = 1 + (0 if skip_slow else len(BUILD_KILL_POINTS))
    rows.append(f"\ninterruptions exercised by test_interrupt: {builds + 2 * RANDOM_KILLS} "
                f"({builds} of real builds, {2 * RANDOM_KILLS} of bundle writes at random moments)")
    resumed = 2 + (0 if skip_slow else len(KILL_CHAIN) + 1)
    rows.append(f"builds killed and resumed from their checkpoints by test_resume: {resumed} "
                "(each resumed output verifies and its .tflite sha256 equals an uninterrupted build's)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slow", action="store_true", help="leave out the slow kill test (six interrupted builds)")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        lines = bad_input_rows(Path(folder))
    lines += ["", *other_rows(args.skip_slow)]
    lines.append(f"\n(measured in {time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
