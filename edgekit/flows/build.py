"""``edgekit build``: recipe -> train -> compress -> convert per target -> measure -> bundle -> report.

The whole output folder is written into a staging folder and renamed into place at the end,
so an interrupted build leaves the previous output intact; the trained and compressed models
are checkpointed on the way (``edgekit.flows.checkpoints``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from edgekit.bundle.archive import zip_folder
from edgekit.bundle.signing import sign_bundle
from edgekit.errors import BudgetError, EdgekitError
from edgekit.flows import from_recipe, stages
from edgekit.flows.checkpoints import Checkpoints
from edgekit.flows.stages import Artifact, ArtifactSettings, StageTimer
from edgekit.output.folder import OutputFolder
from edgekit.recipe import Recipe, load_recipe
from edgekit.report.files import write_report_folder
from edgekit.training import distribute

__all__ = ["build", "BuildResult"]

log = logging.getLogger("edgekit")


@dataclass(frozen=True)
class BuildResult:
    """What ``build`` returns: the report data, where the output went, and the artifacts."""

    out_dir: Path
    report: dict
    artifacts: tuple[Artifact, ...]


def build(
    recipe: Recipe | str | Path,
    *,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    trust_model: bool = False,
    cache: str | Path | bool | None = None,
    fresh: bool = False,
    keep_going: bool = False,
    force: bool = False,
) -> BuildResult:
    """Run a recipe end to end and write bundles plus ``report.json``/``report.md``.

    ``trust_model`` lets ``model.file`` carry code (Lambda layers); off, such files are refused.
    The trained and the compressed models are checkpointed in ``cache`` (default: ``OUT.cache``
    beside the output; False: none) and reused by a re-run of the same recipe, unless ``fresh``.
    A target whose artifact misses its flash or RAM budget is reported and left out while the
    others are bundled (then the build fails with that verdict, exit 1); ``keep_going`` does
    the same for any other target's failure (a compiler error, a model the target refuses).
    The output folder must be new, empty or a previous build's (``edgekit.output.folder``); ``force``
    writes into another folder without removing anything edgekit did not write.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides=overrides, trusted=("output.dir",) if out is not None else ())
    out_dir = distribute.output_dir(Path(out) if out is not None else recipe.resolve(recipe.output.dir), recipe.train.strategy)
    from_recipe.signing_key(recipe)  # a bad signing key fails now, not after training
    flag = "--out" if out is not None else f"{recipe.source}: output.dir"
    with OutputFolder(out_dir, kind="build", force=force, protect=from_recipe.protected_folders(recipe), entries=BUILD_ENTRIES, flag=flag) as output:
        checkpoints = from_recipe.build_checkpoints(recipe, output.path, cache=cache, fresh=fresh, trust=trust_model)
        with checkpoints.kept_on_interrupt():
            return _build(recipe, output, checkpoints, trust_model=trust_model, keep_going=keep_going)


BUILD_ENTRIES = ("bundles", "report.json", "report.md")


def _build(recipe: Recipe, output: OutputFolder, checkpoints: Checkpoints, *, trust_model: bool, keep_going: bool) -> BuildResult:
    timer, targets = StageTimer(), from_recipe.recipe_targets(recipe)
    with timer.stage("load"):
        inputs = from_recipe.load_recipe_inputs(recipe, trust=trust_model)
    with timer.stage("train"):
        model = stages.trained_float_model(inputs, recipe.train, checkpoints, from_recipe.float_checkpoint(recipe))
        scores = stages.float_scores(model, inputs.data)
    data = stages.decide_task(recipe.task, model, inputs.data, scores, trained=recipe.train.enabled)
    settings = from_recipe.artifact_settings(recipe, input_shape=stages.fixed_input_shape(model, data))
    plan = from_recipe.compression_plan(recipe, targets)
    sensitivity, compressed = stages.compressed_models(model, plan, inputs, checkpoints=checkpoints, timer=timer)
    with timer.stage("convert"):
        reference = stages.convert_reference(model, settings)
    with timer.stage("measure"):
        artifacts, failed = [stages.measure(reference, data, scores, settings)], []
    for target in targets:
        try:
            artifacts.append(_made_for(target, compressed, data, scores, settings, timer))
        except (BudgetError if not keep_going else EdgekitError) as exc:
            log.error("%s: %s; bundling the other targets", target.label, exc)
            failed.append((target, exc))
    report = stages.run_report(recipe.name, stages.float_summary(model, scores, data), compressed.report, [], timer.seconds)
    report["failed"] = [{"target": t.label, "error": exc.message, "hint": exc.hint} for t, exc in failed]
    report["task"] = stages.task_report(data, scores)
    if (imported := stages.import_report(model, data, scores)) is not None:
        report["import"] = imported
    report["checkpoints"] = checkpoints.summary()
    if sensitivity is not None:
        report["sensitivity"] = sensitivity
    out_dir = output.path
    with output.staged() as staging:
        artifacts = [stages.bundle(a, staging, data, recorded_recipe=recipe.to_dict()) for a in artifacts]
        if signing_key := from_recipe.signing_key(recipe):
            for artifact in artifacts:
                sign_bundle(staging / artifact.path, signing_key)
        if recipe.output.zip:
            for artifact in artifacts:
                zip_folder(staging / artifact.path, staging / f"{artifact.path}.zip")
        report["artifacts"] = [a.to_report() for a in artifacts]
        write_report_folder(staging, report, full=False)
    log.info("wrote %s", out_dir)
    if failed:
        raise_first(failed, len(artifacts) - 1, out_dir)
    return BuildResult(out_dir=out_dir, report=report, artifacts=tuple(artifacts))


def _made_for(target, compressed, data, scores, settings: ArtifactSettings, timer: StageTimer) -> Artifact:
    """One target's artifact: converted, measured, checked and packaged."""
    with timer.stage("convert"):
        artifact = stages.convert_for_target(target, compressed, data, settings)
    with timer.stage("measure"):
        return stages.check_and_package(stages.measure(artifact, data, scores, settings), data)


def raise_first(failed: list, written: int, out_dir: Path) -> None:
    """The build's verdict after the rest was written: the first failure, with where the others went."""
    target, exc = failed[0]
    others = f"the other {written} target artifact(s) are in {out_dir}" if written else "no target artifact was built"
    more = f" ({len(failed) - 1} more target(s) failed, see report.json)" if len(failed) > 1 else ""
    raise type(exc)(f"{target.label}: {exc.message}{more}; {others}", hint=exc.hint)
