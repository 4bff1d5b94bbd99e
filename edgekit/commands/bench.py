"""``edgekit bench MODEL...``: the on-device latency test, here or on hosts over SSH."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from edgekit.commands._device import invoke_timeout_option, make_remote, remote_options, runtime_option, watch_invokes
from edgekit.commands._options import writable

__all__ = ["bench"]

log = logging.getLogger("edgekit")


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--threads", "threads_list", default="1", show_default=True, metavar="N[,N...]", help="Thread counts to measure, e.g. 1,2,4.")
@click.option("--runs", default=100, show_default=True, type=click.IntRange(min=1), help="Minimum timed inferences.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(min=0), help="Untimed inferences first.")
@click.option("--min-time", default=1.0, show_default=True, type=click.FloatRange(min=0), help="Keep timing until this many seconds have passed.")
@click.option("--delegate", default="xnnpack", show_default=True, metavar="xnnpack|none|gpu|edgetpu|PATH.so", help="xnnpack: LiteRT's default CPU delegate; none: built-in kernels only; gpu: LiteRT's GPU accelerator (a GPU's Vulkan driver, else SwiftShader); edgetpu: libedgetpu; or an external delegate library.")
@runtime_option
@invoke_timeout_option
@click.option("--json", "json_path", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True), callback=writable, help="Also write every result with its context as JSON ('-' for stdout, which then gets only the JSON).")
@click.option("--host", "hosts", multiple=True, metavar="USER@HOST", help="Run on this device over SSH instead (repeat for a fleet); the models are copied there first.")
@remote_options
def bench(models, threads_list, runs, warmup, min_time, delegate, runtime, invoke_timeout, json_path, hosts, **remote):
    """Measure MODELS (bundle folders or .tflite files): load and init time, first inference,
    then latency percentiles over enough runs to reach --min-time, throughput and peak RSS,
    with the device, runtime, delegate and threads recorded beside every number. Several
    models (or --threads values, or hosts) print one comparison table."""
    from edgekit.runtime.bench import BenchSettings

    watch_invokes(invoke_timeout)
    settings = BenchSettings(
        threads=_parse_threads(threads_list), runs=runs, warmup=warmup, min_time=min_time, delegate=delegate, runtime=runtime
    )
    if hosts:
        document = _bench_hosts(models, settings, hosts, {**remote, "invoke_timeout": invoke_timeout})
    else:
        document = _bench_here(models, settings, show_progress=json_path != "-")
    if json_path == "-":
        click.echo(json.dumps(document, indent=2))
        return
    if json_path:
        from edgekit.output.atomic import write_file_atomic

        write_file_atomic(json_path, json.dumps(document, indent=2) + "\n")
    click.echo(format_report(document))
    if json_path:
        click.echo(f"\nresults: {json_path}")


def _bench_here(models, settings, *, show_progress: bool) -> dict:
    from edgekit.runtime.bench import bench_models

    total = len(models) * len(settings.threads)
    if total == 1 or not show_progress or not log.isEnabledFor(logging.INFO):
        results = bench_models(models, settings)
    elif sys.stderr.isatty():
        with click.progressbar(length=total, label="benchmarking", file=sys.stderr, item_show_func=lambda item: item) as bar:
            results = bench_models(models, settings, progress=lambda label: bar.update(1, label))
    else:  # a log file or CI: one line per finished job instead of a redrawn bar
        done = iter(range(1, total + 1))
        results = bench_models(models, settings, progress=lambda label: log.info("benchmarked %d/%d: %s", next(done), total, label))
    return make_document(settings, [r.to_dict() for r in results])


def _bench_hosts(models, settings, hosts, remote_options_: dict) -> dict:
    from edgekit.remote.deploy import bench_copies
    from edgekit.remote.ssh import probe, run_remote_bench

    remote_dir = remote_options_.pop("remote_dir")
    invoke_timeout = remote_options_.pop("invoke_timeout")
    results = []
    for host in hosts:
        remote = make_remote(host, **remote_options_)
        info = probe(remote, settings.runtime)
        log.info("%s: edgekit %s, %s %s; copying %d model(s)", host, info.get("edgekit"), info["runtime"]["name"], info["runtime"]["version"], len(models))
        with bench_copies(remote, [Path(model) for model in models], remote_dir) as paths:
            log.info("%s: benchmarking", host)
            answer = run_remote_bench(remote, paths, bench_arguments(settings) + _timeout_arguments(invoke_timeout))
        results.extend({**result, "host": host} for result in answer.get("results", []))
    return make_document(settings, results)


def bench_arguments(settings) -> list[str]:
    """The same measurement, as flags for the remote ``edgekit bench``."""
    args = ["--threads", ",".join(map(str, settings.threads)), "--runs", str(settings.runs), "--warmup", str(settings.warmup)]
    args += ["--min-time", str(settings.min_time), "--delegate", settings.delegate]
    return args + (["--runtime", settings.runtime] if settings.runtime else [])


def _timeout_arguments(invoke_timeout: float) -> list[str]:
    """The device's own limit, passed on only when it is not the default (older devices lack the flag)."""
    return [] if invoke_timeout == 60.0 else ["--invoke-timeout", f"{invoke_timeout:g}"]


def make_document(settings, results: list[dict]) -> dict:
    from dataclasses import asdict

    from edgekit._version import __version__

    return {"edgekit": __version__, "settings": asdict(settings), "results": results}


def format_report(document: dict) -> str:
    """Context lines per host, then one table: every model x threads (x host)."""
    results = document["results"]
    lines = []
    for host, first in _first_per_host(results).items():
        device = first["device"]
        where = f"{host}: " if host else ""
        board = f" [{device['board']}]" if device.get("board") else ""
        lines.append(
            f"# {where}{device['cpu']}, {device['cores']} cores, {device['architecture']}, {device['os']}{board}; "
            f"{first['runtime']['name']} {first['runtime']['version']}, delegate {first['delegate']}{_adapter_text(first)}"
        )
    return "\n".join(lines + [""] + format_table(results) + accelerator_lines(results))


def _adapter_text(result: dict) -> str:
    adapter = (result.get("accelerator") or {}).get("adapter")
    if not adapter:
        return ""
    kind = ", software" if adapter.get("software") else ""
    return f" (GPU accelerator on {adapter['name']}, {adapter['backend']}{kind})"


def accelerator_lines(results: list[dict]) -> list[str]:
    """Per model run on the GPU accelerator: what it took; and, once, what a software adapter means."""
    gpu = [r for r in results if r.get("accelerator")]
    if not gpu:
        return []
    lines = [""]
    for r in gpu:
        where = f"{r['host']}: " if r.get("host") else ""
        lines.append(f"gpu: {where}{r['model']}: {r['accelerator']['verdict']} (LiteRT fully_accelerated: {str(r['accelerator']['fully_accelerated']).lower()})")
    notes = sorted({r["accelerator"]["timing_note"] for r in gpu if r["accelerator"].get("timing_note")})
    return lines + [f"note: {note}" for note in notes]


def format_table(results: list[dict]) -> list[str]:
    hosts = any(r.get("host") for r in results)
    header = (["host"] if hosts else []) + [
        "model", "quant", "io", "KB", "thr", "load ms", "init ms", "1st ms",
        "p50 µs", "p90 µs", "p99 µs", "mean±std µs", "outliers", "inf/s", "RSS MB", "p50 vs 1st",
    ]  # fmt: skip
    baseline: dict = {}
    rows = []
    for r in results:
        lat = r["latency_us"]
        base = baseline.setdefault((r.get("host"), r["threads"]), lat["p50"])
        rows.append(([r["host"]] if hosts else []) + [
            r["model"], r.get("quantization") or "-", r["io_dtype"], f"{r['model_bytes'] / 1024:,.0f}", str(r["threads"]),
            f"{r['load_ms']:.1f}", f"{r['init_ms']:.1f}", f"{r['first_inference_ms']:.2f}",
            f"{lat['p50']:,.1f}", f"{lat['p90']:,.1f}", f"{lat['p99']:,.1f}", f"{lat['mean']:,.1f}±{lat['std']:,.1f}",
            f"{lat.get('outliers', 0)}/{lat['runs']}", f"{lat['throughput_per_s']:,.0f}", f"{r['peak_rss_mb']:.1f}", f"{lat['p50'] / base:.2f}x" if base else "-",
        ])  # fmt: skip
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    render = lambda row: "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()  # noqa: E731
    return [render(header), render(["-" * w for w in widths]), *map(render, rows)]


def _first_per_host(results: list[dict]) -> dict:
    first: dict = {}
    for r in results:
        first.setdefault(r.get("host"), r)
    return first


def _parse_threads(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise click.BadParameter(f"{text!r}: give positive integers separated by commas, e.g. 1,2,4", param_hint="--threads")
    return values
