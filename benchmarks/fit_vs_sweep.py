"""``edgekit fit`` against an exhaustive sweep of the same space, side by side.

Both arms run the same recipe, target and budgets as their own processes with their own empty
cache (each trains its own float model):

- the search: ``edgekit fit RECIPE --target T --flash-kb F --ram-kb R`` (untrained structures
  checked first, successive halving on the fine-tuning epochs);
- the sweep: the same command with ``--exhaustive``: every candidate trained with the full
  epochs, converted, packaged and measured, the fitting ones on the test split too.

Printed: wall seconds, compression runs trained, candidates measured, each arm's winner and its
test accuracy, the sweep's best fitting variant on the test split, and the two goals: the
search in at most 1/3 of the sweep's time, its winner at most 0.3 points below that variant.

Run: ``python benchmarks/fit_vs_sweep.py`` (the sample recipe, mcu, 32 KiB flash, 16 KiB RAM;
about an hour on 2 cores); ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _measure import REPO, run_measured  # benchmarks/_measure.py


def arm(name: str, args: argparse.Namespace, out: Path, *extra: str) -> dict:
    """Run one arm and read its report."""
    argv = [sys.executable, "-m", "edgekit", "fit", str(args.recipe), "--target", args.target, "--flash-kb", str(args.flash_kb), "--ram-kb", str(args.ram_kb), "--out", str(out / name), *extra]
    code, seconds, rss, _, stderr = run_measured(argv, out / f"{name}-log", timeout=4 * 3600)
    if code not in (0, 1):
        raise SystemExit(f"{name} failed ({code}): {stderr.strip().splitlines()[-1] if stderr.strip() else ''}")
    return summary(json.loads((out / name / "report.json").read_text()), seconds=seconds, rss=rss)


def summary(report: dict, *, seconds: float | None = None, rss: float | None = None) -> dict:
    """One arm's figures from its report.json (``seconds``: the process's wall time; without it,
    the search's own total from the report, which leaves out Python's and TensorFlow's start)."""
    rows = report["candidates"]
    measured = [r for r in rows if r["rungs"]]
    fitting = [r for r in measured if r["rungs"][-1]["fits"]]
    winner = report["winner"]
    return {
        "seconds": seconds if seconds is not None else report["timings_s"]["total"],
        "search_seconds": report["timings_s"]["total"],
        "peak_rss_mb": rss,
        "candidates": len(rows),
        "measured": len(measured),
        "rejected_before_training": report["fit"]["rejected_before_training"],
        "compression_runs": len(report["fit"]["trained"]),
        "fitting": len(fitting),
        "winner": None if winner is None else winner["name"],
        "winner_test_accuracy": None if winner is None else winner["artifact"]["accuracy"],
        "winner_figures": None if winner is None else winner["figures"],
        "best_fitting_test_accuracy": max((r["test_accuracy"] for r in fitting if r.get("test_accuracy") is not None), default=None),
        "best_fitting": max(fitting, key=lambda r: r.get("test_accuracy") or 0)["name"] if fitting and any(r.get("test_accuracy") for r in fitting) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=REPO / "samples" / "mnist_cnn.toml")
    parser.add_argument("--target", default="mcu")
    parser.add_argument("--flash-kb", type=float, default=32)
    parser.add_argument("--ram-kb", type=float, default=16)
    parser.add_argument("--out", type=Path, default=None, help="Keep both arms' folders here (default: a temporary folder).")
    parser.add_argument("--search", type=Path, default=None, help="A finished `edgekit fit` folder of the same recipe and budgets: its report stands for the search arm.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fit-vs-sweep-") as scratch:
        out = args.out or Path(scratch)
        search = summary(json.loads((args.search / "report.json").read_text())) if args.search else arm("search", args, out)
        sweep = arm("sweep", args, out, "--exhaustive")
    # The searches' own totals when one arm was read from a report; process wall times otherwise.
    key = "search_seconds" if args.search else "seconds"
    ratio = search[key] / sweep[key]
    gap = None
    if search["winner_test_accuracy"] is not None and sweep["best_fitting_test_accuracy"] is not None:
        gap = round((sweep["best_fitting_test_accuracy"] - search["winner_test_accuracy"]) * 100, 2)
    rows = [
        ("wall seconds", "seconds"), ("search's own seconds", "search_seconds"), ("peak RSS (MB)", "peak_rss_mb"), ("candidates", "candidates"),
        ("rejected before training", "rejected_before_training"), ("candidates measured", "measured"),
        ("compression runs trained", "compression_runs"), ("fitting candidates", "fitting"), ("winner", "winner"),
        ("winner's test accuracy", "winner_test_accuracy"), ("best fitting on test", "best_fitting"),
        ("its test accuracy", "best_fitting_test_accuracy"),
    ]  # fmt: skip
    print(f"{args.recipe.name} on {args.target}, flash <= {args.flash_kb:g} KiB, RAM <= {args.ram_kb:g} KiB")
    print(f"{'':28}{'search':>28}{'exhaustive sweep':>28}")
    for label, key in rows:
        print(f"{label:28}{_cell(search[key]):>28}{_cell(sweep[key]):>28}")
    print(f"\ntime: search / sweep = {ratio:.3f} (goal <= 0.333): {'met' if ratio <= 1 / 3 else 'NOT met'}")
    if gap is not None:
        print(f"accuracy: the search's winner is {gap:+.2f} points below the sweep's best fitting variant (goal <= 0.3): {'met' if gap <= 0.3 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"search": search, "sweep": sweep, "time_ratio": round(ratio, 4), "accuracy_gap_points": gap}, indent=2) + "\n")


def _cell(value) -> str:
    if isinstance(value, float) and value < 1:
        return f"{value * 100:.2f} %"
    return "-" if value is None else f"{value:,}" if isinstance(value, (int, float)) else str(value)


if __name__ == "__main__":
    main()
