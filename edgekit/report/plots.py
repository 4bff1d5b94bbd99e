"""The report's plots as PNG bytes: accuracy vs size, accuracy vs latency, per-layer sensitivity.

matplotlib loads only here and only when a report is rendered, and draws through the Agg
canvas directly (no pyplot, no global backend switch), so rendering never opens a window
and never changes the state of a notebook that imported edgekit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from edgekit.errors import ToolError

__all__ = ["log_bytes_axis", "make_plots", "new_figure", "Plot", "png_bytes"]

MODE_COLORS = {"float32": "#4c72b0", "float16": "#55a868", "dynamic": "#c44e52", "int8": "#8172b2", "qat": "#dd8452"}
TARGET_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


@dataclass(frozen=True)
class Plot:
    """One rendered figure: a file-safe name, a title for people, and the PNG."""

    name: str
    title: str
    png: bytes


def make_plots(report: Mapping) -> list[Plot]:
    """The Pareto plots, plus sensitivity bars when the report carries per-layer sensitivity."""
    artifacts = [a for a in report["artifacts"] if "accuracy" in a]
    fronts = report.get("pareto", {})
    size, latency = (lambda a: a["gzip_bytes"]), (lambda a: a["latency_us"]["p50"])
    plots = [
        _scatter("accuracy_vs_size", "Accuracy vs gzip size", artifacts, size, "gzip size (log scale)", fronts.get("size", []), log=True),
        _scatter(
            "accuracy_vs_latency", "Accuracy vs p50 latency", artifacts, latency, "p50 latency (µs, batch 1, 1 thread)",
            fronts.get("latency", []), log=False,
        ),
    ]  # fmt: skip
    sensitivity = find_sensitivity(report)
    if sensitivity:
        plots.append(_bars("sensitivity", "Per-layer sensitivity", *sensitivity))
    return plots


def find_sensitivity(report: Mapping) -> tuple[dict[str, float], str] | None:
    """``({layer: value}, what the value is)`` from ``report["sensitivity"]``, if present.

    Accepted shapes: ``{layer: number}`` or ``{"layers": {layer: number}, "metric": "..."}``.
    """
    found = report.get("sensitivity") or report.get("compression", {}).get("sensitivity")
    if not isinstance(found, Mapping) or not found:
        return None
    layers = found.get("layers", found)
    metric = found.get("metric", "accuracy drop")
    values = {str(k): float(v) for k, v in layers.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return (values, str(metric)) if values else None


def new_figure(width: float = 6.2, height: float = 4.4):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ToolError("matplotlib is not installed; the report's plots need it", hint="pip install 'edgekit-tflite[report]'") from exc
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _label(artifact: Mapping, targets: int) -> str:
    pruned = artifact.get("sparsity_target", artifact.get("sparsity", 0))
    label = f"{pruned * 100:.0f}% {artifact.get('mode', artifact['quantization'])}"
    return f"{artifact['target']} {label}" if targets > 1 else label


def _scatter(
    name: str, title: str, artifacts: Sequence[Mapping], cost: Callable[[Mapping], float], xlabel: str, front: Sequence[str], *, log: bool
) -> Plot:
    """Every variant as a labelled point, coloured by mode; the front as a staircase."""
    figure = new_figure()
    axes = figure.add_subplot()
    targets = sorted({a["target"] for a in artifacts})
    for artifact in artifacts:
        mode = artifact.get("mode", artifact["quantization"])
        on_front = artifact["name"] in front
        x, y = cost(artifact), artifact["accuracy"] * 100
        axes.scatter(
            [x], [y], s=70 if on_front else 40, color=MODE_COLORS.get(mode, "#777777"),
            marker=TARGET_MARKERS[targets.index(artifact["target"]) % len(TARGET_MARKERS)],
            edgecolors="black" if on_front else "none", linewidths=1.2, zorder=3,
        )  # fmt: skip
        axes.annotate(_label(artifact, len(targets)), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, zorder=4)
    by_name = {a["name"]: a for a in artifacts}
    points = sorted((cost(by_name[n]), by_name[n]["accuracy"] * 100) for n in front if n in by_name)
    if points:
        axes.plot(*zip(*points), drawstyle="steps-post", linestyle="--", color="black", linewidth=1, label="Pareto front", zorder=2)
    for mode, color in MODE_COLORS.items():
        if any(a.get("mode", a["quantization"]) == mode for a in artifacts):
            axes.scatter([], [], color=color, label=mode)
    if log:
        log_bytes_axis(axes)
    axes.set(title=title, xlabel=xlabel, ylabel="top-1 accuracy (%)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    return Plot(name, title, png_bytes(figure))


def log_bytes_axis(axes) -> None:
    """Log scale labelled 20 kB, 50 kB, 100 kB... instead of crowded 2x10^4 minor labels."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(EngFormatter(unit="B"))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _bars(name: str, title: str, values: Mapping[str, float], metric: str) -> Plot:
    figure = new_figure(6.2, max(2.5, 0.35 * len(values) + 1.2))
    axes = figure.add_subplot()
    layers = list(values)
    axes.barh(layers, [values[layer] for layer in layers], color="#4c72b0")
    axes.invert_yaxis()
    axes.set(title=title, xlabel=metric)
    axes.grid(True, axis="x", alpha=0.3)
    return Plot(name, title, png_bytes(figure))
