"""``edgekit sweep``: one trained float model, a grid of sparsity x quantisation x target.

Every variant is converted, measured through the interpreter and bundled with the same
functions ``build`` uses, so a sweep's numbers and a build's numbers mean the same thing.

The output folder::

    cache/                trained Keras models: float-KEY/, pruned-KEY/ (edgekit.model_cache)
    variants/NAME.json    one finished variant's measured result
    bundles/NAME/         its deployable bundle
    report.json, report.md, results.csv, report.html, plots/

A variant's JSON is written (atomically) only after its bundle is complete, so Ctrl-C keeps
exactly the variants that finished, and a re-run with the same recipe and grid skips them.
The cache lives inside the output folder by default (``--cache`` moves it, e.g. to
``~/.cache/edgekit`` to share it between sweeps): a sweep then stays self-contained, is
removed with its folder, and parallel sweeps never read each other's half-written models.
Before every fine-tuning the seeds are reset, so a resumed sweep computes the same models
as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from edgekit.atomic import write_file_atomic
from edgekit.errors import InputError
from edgekit.model_cache import ModelCache, compression_key, digest, float_model_key
from edgekit.recipe import Recipe, load_recipe

log = logging.getLogger("edgekit")

QUANTIZE_MODES = ("float32", "float16", "dynamic", "int8", "qat")
DEFAULT_SPARSITIES = (0.0, 0.5, 0.8, 0.9)


@dataclass(frozen=True)
class Variant:
    """One point of the grid: a target, a pruning sparsity and a quantisation mode."""

    recipe_name: str
    target: Any  # edgekit.target.Target, already set to this variant's quantization
    sparsity: float
    mode: str

    @property
    def quantization(self) -> str:
        """What the artifact is: ``qat`` produces an int8 model."""
        return "int8" if self.mode == "qat" else self.mode

    @property
    def name(self) -> str:
        return f"{self.recipe_name}-{self.target.name}-s{self.sparsity * 100:g}-{self.mode}"

    def recipe(self, recipe: Recipe) -> Recipe:
        """The single-variant recipe that ``build`` would need for this artifact (for manifests)."""
        return dataclasses.replace(point_recipe(recipe, self.sparsity, qat=self.mode == "qat"), targets=(self.target.label,))


def point_recipe(recipe: Recipe, sparsity: float, *, qat: bool) -> Recipe:
    """``recipe`` with one grid point's ``prune.sparsity`` and ``quantize.mode``."""
    return dataclasses.replace(
        recipe,
        prune=dataclasses.replace(recipe.prune, sparsity=sparsity),
        quantize=dataclasses.replace(recipe.quantize, mode="qat" if qat else "ptq"),
    )


class Progress:
    """What a sweep reports while it runs; this base shows nothing (the CLI uses rich)."""

    def start(self, *, variants: int, finished: int, stages: int) -> None:
        pass

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def variant_done(self, name: str) -> None:
        pass


@dataclass
class SweepResult:
    """What ``sweep`` returns: the report data, where it went, what ran and what was reused."""

    out_dir: Path
    report: dict
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def sweep(
    recipe: Recipe | str | Path,
    *,
    out: str | Path | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    modes: Sequence[str] = QUANTIZE_MODES,
    targets: Sequence[str] | None = None,
    cache: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run (or resume) the grid and write the sweep report into ``out``."""
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides)
    out_dir = Path(out) if out is not None else default_out_dir(recipe)
    grid = plan_grid(recipe, sparsities=sparsities, modes=modes, targets=targets)
    runner = _Runner(recipe, out_dir, Path(cache) if cache else out_dir / "cache", progress or Progress())
    return runner.run(grid)


def default_out_dir(recipe: Recipe) -> Path:
    """Beside the build output, never inside it: a build replaces its whole folder."""
    build_dir = Path(os.path.abspath(recipe.resolve(recipe.output.dir)))
    return build_dir.with_name(build_dir.name + "-sweep")


def plan_grid(recipe: Recipe, *, sparsities: Sequence[float], modes: Sequence[str], targets: Sequence[str] | None) -> list[Variant]:
    """The variants in run order: by sparsity, then mode (QAT last), then target."""
    from edgekit.pipeline import recipe_targets

    _check_grid(sparsities, modes)
    specs = tuple(targets) if targets else recipe.targets
    try:
        resolved = recipe_targets(dataclasses.replace(recipe, targets=specs))
    except InputError as exc:
        raise InputError(f"--targets: {exc.message}", hint=exc.hint) from exc
    grid, skipped = [], []
    for sparsity in sorted(set(float(s) for s in sparsities)):
        for mode in sorted(set(modes), key=QUANTIZE_MODES.index):
            for target in resolved:
                quantization = "int8" if mode == "qat" else mode
                if quantization not in target.quantizations:
                    skipped.append(f"{target.name} x {mode}")
                    continue
                grid.append(Variant(recipe.name, target.variant(quantization=quantization), sparsity, mode))
    if skipped:
        log.info("not in the grid (the target has no such mode): %s", ", ".join(sorted(set(skipped))))
    if not grid:
        raise InputError("the sweep grid is empty: no target supports the quantize modes asked for", hint="check --quantize and --targets")
    return grid


def _check_grid(sparsities: Sequence[float], modes: Sequence[str]) -> None:
    if not sparsities or not modes:
        raise InputError("the sweep needs at least one sparsity and one quantize mode")
    for sparsity in sparsities:
        if not 0 <= sparsity < 1:
            raise InputError(f"sparsity {sparsity!r} must be in [0, 1), e.g. 0.8 for 80 %")
    for mode in modes:
        if mode not in QUANTIZE_MODES:
            raise InputError(f"unknown quantize mode {mode!r}", hint=f"choose from: {', '.join(QUANTIZE_MODES)}")


def variant_key(recipe: Recipe, float_key: str, variant: Variant) -> str:
    """Everything a variant's numbers depend on, and nothing else: a finished variant is reused
    only on a match, and changing, say, prune.epochs re-measures only the pruned variants."""
    raw = variant.recipe(recipe).to_dict()
    quantize = raw["quantize"]
    target = variant.target
    return digest(
        {
            "float": float_key,
            # the pruned model's own key: prune, distill, cluster, the pruning policy and files
            "compressed": compression_key(point_recipe(recipe, variant.sparsity, qat=False), float_key) if variant.sparsity > 0 else None,
            "qat": [quantize["epochs"], quantize["learning_rate"]] if variant.mode == "qat" else None,
            "calibration": quantize["calibration_samples"] if variant.quantization == "int8" else None,
            "latency_runs": recipe.output.latency_runs,
            "target": [target.label, target.io_dtype, dict(target.options), dict(target.converter_options)],
        }
    )


class _Runner:
    """One sweep run: loads what is needed lazily, computes pending variants, writes the report."""

    def __init__(self, recipe: Recipe, out_dir: Path, cache_dir: Path, progress: Progress):
        self.recipe = recipe
        self.out_dir = out_dir
        self.variants_dir = out_dir / "variants"
        self.cache = ModelCache(cache_dir)
        self.progress = progress
        self.float_key = float_model_key(recipe)
        self.timings: dict[str, float] = {}
        self.float_info: dict = {}
        self.float_cached = False

    def run(self, grid: list[Variant]) -> SweepResult:
        started = time.perf_counter()
        keys = {v.name: variant_key(self.recipe, self.float_key, v) for v in grid}
        results = self._finished(grid, keys)
        pending = [v for v in grid if v.name not in results]
        if results:
            names = list(results)
            listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            log.info("skipping %d finished variant(s) already in %s: %s", len(names), self.variants_dir, listed)
        self.progress.start(variants=len(grid), finished=len(results), stages=_stage_count(pending))
        try:
            if pending:
                self._compute(pending, keys, results)
        except KeyboardInterrupt:
            log.warning(
                "interrupted: %d of %d variants are finished and kept in %s; run the same command to continue",
                len(results), len(grid), self.variants_dir,
            )  # fmt: skip
            raise
        self.timings["total"] = round(time.perf_counter() - started, 2)
        report = self._report(grid, results, pending)
        from edgekit.report import write_sweep_reports

        write_sweep_reports(self.out_dir, report)
        log.info("wrote %s", self.out_dir)
        return SweepResult(self.out_dir, report, computed=report["sweep"]["computed"], reused=report["sweep"]["reused"])

    def _finished(self, grid: list[Variant], keys: Mapping[str, str]) -> dict[str, dict]:
        """Results on disk whose key matches the current recipe and grid point."""
        found = {}
        for variant in grid:
            path = self.variants_dir / f"{variant.name}.json"
            if not path.is_file():
                continue
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                usable = result["key"] == keys[variant.name] and (self.out_dir / result["artifact"]["path"]).is_dir()
            except (ValueError, KeyError, TypeError):
                usable = False
            if usable:
                found[variant.name] = result
            else:
                log.info("%s: measured with other settings (or its bundle is gone); measuring it again", variant.name)
        return found

    def _compute(self, pending: list[Variant], keys: Mapping[str, str], results: dict) -> None:
        from edgekit.compression.run import Compressed

        self._prepare()
        for sparsity, group in groupby(pending, key=lambda v: v.sparsity):
            pruned, prune_report = self._pruned(sparsity)
            qat = None  # QAT runs when its first variant comes (modes are ordered QAT last)
            for variant in group:
                if variant.mode != "qat":
                    compressed = Compressed(float_model=pruned, qat_model=None, report=prune_report)
                else:
                    qat = qat or self._qat(pruned, sparsity)
                    compressed = Compressed(float_model=pruned, qat_model=qat[0], report={**prune_report, **qat[1]})
                results[variant.name] = self._variant(variant, compressed, keys[variant.name])

    def _prepare(self) -> None:
        """Data, and the float model: from the cache when this recipe trained it before."""
        from edgekit._compat import seed_everything
        from edgekit.data import load_dataset
        from edgekit.pipeline import check_input_shape, train_data

        with self._timed("load"), self.progress.stage("load data"):
            seed_everything(self.recipe.train.seed)
            self.dataset = load_dataset(self.recipe.data, base_dir=self.recipe.base_dir)
            self.x_train = self.dataset.normalize(self.dataset.x_train)
            self.x_test = self.dataset.normalize(self.dataset.x_test)
            self.data = train_data(self.recipe, self.x_train, self.dataset.y_train)
        with self._timed("train"), self.progress.stage("float model"):
            self.float_model = self._float_model()
            check_input_shape(self.float_model, self.dataset)
            self._score_float_model()

    def _float_model(self):
        from edgekit.pipeline import check_input_shape, load_model, train_float

        cached = self.cache.load("float", self.float_key)
        if cached is not None:
            self.float_cached = True
            note = cached.note
            log.info("float model: reusing cached %s (trained in %s s on %s); skipping training", cached.path, note.get("train_s", "?"), note.get("created", "?"))
            return cached.models["model"]
        model = load_model(self.recipe)
        check_input_shape(model, self.dataset)
        started = time.perf_counter()
        train_float(model, self.data, self.recipe)
        raw = self.recipe.to_dict()
        note = {
            "recipe": self.recipe.name,
            "train_s": round(time.perf_counter() - started, 1),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "sections": {name: raw[name] for name in ("model", "data", "train")},
        }
        path = self.cache.save("float", self.float_key, {"model.keras": model}, note)
        if path is not None:
            log.info("float model: trained and cached in %s", path)
        return model

    def _score_float_model(self) -> None:
        from edgekit.train import keras_predictions, top1_accuracy

        self.float_scores = keras_predictions(self.float_model, self.x_test)
        self.float_info = {
            "accuracy": round(top1_accuracy(self.float_scores, self.dataset.y_test), 5),
            "params": int(self.float_model.count_params()),
        }

    def _pruned(self, sparsity: float):
        """The stripped pruned model for ``sparsity`` (the float model itself at 0), cached."""
        from edgekit._compat import seed_everything
        from edgekit.compression.run import run_compression, steps_from_recipe

        if sparsity == 0:
            return self.float_model, {}
        recipe = point_recipe(self.recipe, sparsity, qat=False)
        key = compression_key(recipe, self.float_key)
        with self._timed("compress"), self.progress.stage(f"prune to {sparsity:.0%}"):
            cached = self.cache.load("pruned", key)
            if cached is not None:
                log.info("pruned to %g %%: reusing cached %s", sparsity * 100, cached.path)
                return cached.models["model"], cached.note.get("compression", {})
            seed_everything(self.recipe.train.seed)
            compressed = run_compression(self.float_model, steps_from_recipe(recipe), self.data)
            note = {"recipe": self.recipe.name, "sparsity": sparsity, "compression": compressed.report}
            self.cache.save("pruned", key, {"model.keras": compressed.float_model}, note)
        return compressed.float_model, compressed.report

    def _qat(self, pruned, sparsity: float):
        """QAT fine-tuning of the (pruned) model; prune-preserving when ``sparsity > 0``."""
        from edgekit._compat import seed_everything
        from edgekit.compression import QuantizeAware
        from edgekit.compression.run import run_compression, steps_from_recipe

        steps = [step for step in steps_from_recipe(point_recipe(self.recipe, sparsity, qat=True)) if isinstance(step, QuantizeAware)]
        with self._timed("compress"), self.progress.stage(f"{steps[0].name} at {sparsity:.0%}"):
            seed_everything(self.recipe.train.seed)
            compressed = run_compression(pruned, steps, self.data)
        return compressed.qat_model, compressed.report

    def _variant(self, variant: Variant, compressed, key: str) -> dict:
        """Convert, measure and bundle one variant exactly as ``build`` does, then record it."""
        from edgekit.pipeline import Artifact, convert_for_target, measure, write_artifact_bundle

        started = time.perf_counter()
        recipe = variant.recipe(self.recipe)
        with self.progress.stage(f"convert {variant.name}"):
            model_bytes = convert_for_target(variant.target, compressed, recipe, self.x_train)
        artifact = Artifact(variant.name, variant.target.name, variant.quantization, model_bytes)
        with self.progress.stage(f"measure {variant.name}"):
            measure(artifact, [variant.target], self.x_test, self.dataset.y_test, self.float_scores, recipe)
        with self.progress.stage(f"bundle {variant.name}"):
            write_artifact_bundle(self.out_dir, artifact, self.dataset, recipe)
        seconds = round(time.perf_counter() - started, 2)
        self.timings["variants"] = round(self.timings.get("variants", 0.0) + seconds, 2)
        row = {**artifact.to_report(), "sparsity_target": variant.sparsity, "mode": variant.mode, "compression": compressed.report, "seconds": seconds}
        return self._record(variant, {"key": key, "artifact": row, "float_model": self.float_info})

    def _record(self, variant: Variant, result: dict) -> dict:
        """The variant's JSON, atomically, after its bundle: its presence means "finished"."""
        self.variants_dir.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self.variants_dir / f"{variant.name}.json", json.dumps(result, indent=2) + "\n")
        row = result["artifact"]
        log.info("%s: accuracy %.2f %%, %s gzip bytes, p50 %.0f µs", variant.name, row["accuracy"] * 100, f"{row['gzip_bytes']:,}", row["latency_us"]["p50"])
        self.progress.variant_done(variant.name)
        return result

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 2)

    def _report(self, grid: list[Variant], results: Mapping[str, dict], pending: list[Variant]) -> dict:
        from edgekit.compression.run import Compressed
        from edgekit.pareto import mark_pareto
        from edgekit.pipeline import make_report
        from edgekit.runtime import resolve_backend

        computed = {v.name for v in pending}
        float_info = self.float_info or next(iter(results.values()))["float_model"]
        report = make_report(self.recipe, float_info, Compressed(None, None, {}), [], self.timings)
        report["artifacts"] = [results[v.name]["artifact"] for v in grid]
        report["pareto"] = mark_pareto(report["artifacts"])
        backend = resolve_backend()
        report["environment"]["runtime"] = {"interpreter": backend.name, "version": backend.version, "threads": 1}
        report["sweep"] = {
            "sparsities": sorted({v.sparsity for v in grid}),
            "modes": [m for m in QUANTIZE_MODES if any(v.mode == m for v in grid)],
            "targets": sorted({v.target.name for v in grid}),
            "variants": len(grid),
            "computed": [v.name for v in pending],
            "reused": [v.name for v in grid if v.name not in computed],
            "float_model_cache": {"path": str(self.cache.path("float", self.float_key)), "reused": self.float_cached},
        }
        return report


def _stage_count(pending: Sequence[Variant]) -> int:
    """Stages the progress bar expects: data, float model, each prune and QAT, 3 per variant."""
    if not pending:
        return 0
    sparsities = {v.sparsity for v in pending}
    qat = {v.sparsity for v in pending if v.mode == "qat"}
    return 2 + sum(1 for s in sparsities if s > 0) + len(qat) + 3 * len(pending)
