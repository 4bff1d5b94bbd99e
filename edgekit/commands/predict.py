"""``edgekit predict BUNDLE INPUT...``: classify images or arrays with a verified bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.commands._device import invoke_timeout_option, runtime_option, threads_option, watch_invokes
from edgekit.commands._options import signer_options

__all__ = ["predict"]

DELEGATES = ("xnnpack", "none", "gpu")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-k", "--top-k", default=3, show_default=True, type=click.IntRange(min=1), help="How many classes to show per input.")
@click.option("--normalized", is_flag=True, help="The .npy inputs are already normalised floats: skip the manifest's (raw - mean) / std.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--delegate", default="xnnpack", show_default=True, type=click.Choice(DELEGATES), help="xnnpack: LiteRT's CPU delegate; none: built-in kernels; gpu: LiteRT's GPU accelerator (a GPU's Vulkan driver, else SwiftShader).")
@runtime_option
@threads_option
@invoke_timeout_option
@signer_options
def predict(bundle: Path, inputs: tuple[Path, ...], top_k: int, normalized: bool, as_json: bool, delegate: str, runtime: str | None, threads: int, invoke_timeout: float, signers):
    """Run BUNDLE on each INPUT (PNG/JPEG images, resized and converted as the manifest says,
    or .npy arrays of raw inputs, one sample or a batch) and print the top-k labels with scores.
    The bundle's files are checked against their sha256 before anything is loaded."""
    import numpy as np

    from edgekit.runtime.bundle import as_batch, load_input, open_bundle
    from edgekit.runtime.limits import expect_input_bytes

    watch_invokes(invoke_timeout)
    expect_input_bytes(6 * sum(path.stat().st_size for path in inputs if path.suffix == ".npy" and path.is_file()))  # raw, batch, float, quantised
    if delegate == "gpu" and runtime not in (None, "ai_edge_litert"):
        raise click.BadParameter(f"--delegate gpu runs LiteRT's GPU accelerator, not {runtime}; drop --runtime", param_hint="--runtime")
    loaded = open_bundle(bundle, threads=threads, runtime=runtime, default_delegates=delegate != "none", signers=signers)
    if delegate == "gpu":
        from edgekit.runtime.gpu_device import with_gpu_engine

        loaded = with_gpu_engine(loaded, threads=threads)
    raws, sources = [], []
    for path in inputs:
        raw = load_input(path, loaded.input_spec.get("image"))
        batch = as_batch(raw, loaded.runner.inputs[0], source=str(path))
        raws.append(batch)
        sources.extend([str(path)] if len(batch) == 1 else [f"{path}[{i}]" for i in range(len(batch))])
    predictions = loaded.predict(np.concatenate(raws), sources, top_k=top_k, normalized=normalized)
    backend = loaded.runner.backend
    accelerator = loaded.engine.describe() if loaded.engine else None
    if as_json:
        document = {
            "bundle": str(bundle),
            "model": loaded.manifest.get("name"),
            "runtime": {"name": backend.name, "version": backend.version, "delegate": delegate},
            "predictions": [p.to_dict() for p in predictions],
        }
        if accelerator:
            document["accelerator"] = accelerator
        click.echo(json.dumps(document, indent=2))
        return
    from edgekit.terminal import printable  # labels and names from the bundle: escaped, one line each

    click.echo(f"# {printable(loaded.manifest.get('name'))} on {backend.name} {backend.version}, delegate {delegate}{_accelerator_text(accelerator)}", err=True)
    for prediction in predictions:
        best = ", ".join(f"{printable(label)} ({score:.3f})" for _, label, score in prediction.top)
        click.echo(f"{printable(prediction.source)}: {best}")



def _accelerator_text(accelerator: dict | None) -> str:
    """The adapter and how much of the model it ran, for the header line."""
    if not accelerator:
        return ""
    return f": {accelerator['verdict']}"
