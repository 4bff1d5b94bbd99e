"""Magnitude pruning with TF-MOT, with a schedule that actually reaches its target.

TF-MOT's ``PolynomialDecay`` only prunes on steps where ``(step - begin) % frequency == 0``
up to ``end_step``; with the default ``frequency=100`` and an ``end_step`` that is not a
multiple of it (or beyond the last step), the final sparsity is silently never applied. The
schedule here is derived from the real number of steps: pruning ramps over the first
``ramp_fraction`` of fine-tuning, ends exactly on a pruning step, and the rest of the
fine-tuning recovers accuracy at the final sparsity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgekit._compat import tfmot
from edgekit.compression.base import CompressionStep
from edgekit.compression.layers import SkippedLayer, check_patterns, has_weights, wrap_layers
from edgekit.compression.sparsity import follows_m_by_n, kernel_sparsity, kernels
from edgekit.errors import EdgekitError, ModelError
from edgekit.training.train import TrainData, fit
from edgekit.vocabulary import PRUNE_POLICIES

__all__ = ["derive_schedule", "Prune", "PruneSchedule"]

log = logging.getLogger("edgekit")

PRUNING_EVENTS = 10  # how many times the mask is tightened on the way to the target
SPARSITY_TOLERANCE = 0.01


@dataclass(frozen=True, kw_only=True)
class PruneSchedule:
    """The derived schedule, reported so users can see what was run."""

    kind: str
    target_sparsity: float
    begin_step: int
    end_step: int
    frequency: int
    total_steps: int

    def build(self):
        sparsity = tfmot().sparsity.keras
        if self.kind == "constant":
            return sparsity.ConstantSparsity(
                self.target_sparsity, begin_step=self.begin_step, end_step=self.end_step, frequency=self.frequency
            )
        return sparsity.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=self.target_sparsity,
            begin_step=self.begin_step,
            end_step=self.end_step,
            frequency=self.frequency,
        )

    def to_report(self) -> dict:
        """When the schedule prunes, for the report (the target sparsity is reported beside it)."""
        return {"kind": self.kind, "begin_step": self.begin_step, "end_step": self.end_step, "frequency": self.frequency, "total_steps": self.total_steps}


def derive_schedule(*, kind: str, sparsity: float, total_steps: int, ramp_fraction: float) -> PruneSchedule:
    """A schedule whose last pruning step falls inside training and on a pruning turn."""
    if total_steps < 2:
        raise EdgekitError(f"pruning needs at least 2 training steps, got {total_steps}", hint="use more data or epochs")
    ramp = max(1, min(total_steps - 1, int(total_steps * ramp_fraction)))
    if kind == "constant":
        return PruneSchedule(kind=kind, target_sparsity=sparsity, begin_step=0, end_step=-1, frequency=max(1, ramp), total_steps=total_steps)
    frequency = max(1, ramp // PRUNING_EVENTS)
    end_step = frequency * (ramp // frequency)
    return PruneSchedule(
        kind=kind, target_sparsity=sparsity, begin_step=0, end_step=end_step, frequency=frequency, total_steps=total_steps
    )


@dataclass(kw_only=True)
class Prune(CompressionStep):
    """Prune conv and dense kernels to ``sparsity`` while fine-tuning for ``epochs``.

    ``m_by_n=(2, 4)`` prunes 2 of every 4 consecutive weights instead (the schedule then only
    says when); ``policy="xnnpack"`` applies TF-MOT's ``PruneForLatencyOnXNNPack`` (only the
    layers XNNPACK's sparse kernels can speed up). Layers TF-MOT cannot prune, and those in
    ``exclude`` (names or types), stay dense and are listed in ``skipped``.
    """

    sparsity: float
    epochs: int = 2
    learning_rate: float = 5e-4
    schedule: str = "polynomial"
    ramp_fraction: float = 0.6
    m_by_n: tuple[int, int] | None = None
    policy: str = "none"
    exclude: tuple[str, ...] = ()
    name: str = "prune"
    last_schedule: PruneSchedule | None = None
    skipped: list[SkippedLayer] = field(default_factory=list)
    pruned_layers: list[str] = field(default_factory=list)

    @property
    def target_sparsity(self) -> float:
        return self.m_by_n[0] / self.m_by_n[1] if self.m_by_n else self.sparsity

    def apply(self, model, data: TrainData):
        total_steps = data.steps_per_epoch * self.epochs
        self.last_schedule = derive_schedule(
            kind=self.schedule, sparsity=self.target_sparsity, total_steps=total_steps, ramp_fraction=self.ramp_fraction
        )
        sparsity = tfmot().sparsity.keras
        wrapped = self.wrap(model)
        if not self.pruned_layers:
            log.warning("%s: no layer of %s can be pruned; it stays dense", self.name, model.name)
            return model
        fit(
            wrapped,
            data,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            stage="prune",
            callbacks=[sparsity.UpdatePruningStep()],
        )
        return wrapped

    def wrap(self, model):
        """The model with every prunable, not excluded layer in a pruning wrapper."""
        sparsity = tfmot().sparsity.keras
        check_patterns(model, self.exclude, key="prune.exclude")
        policy = _latency_policy(self.policy, model)
        params = {"pruning_schedule": self.last_schedule.build(), "sparsity_m_by_n": self.m_by_n}
        wrapped, self.skipped = wrap_layers(
            model,
            step=self.name,
            wrap=lambda layer: sparsity.prune_low_magnitude(layer, **params),
            supports=lambda layer: self._unsupported(layer, policy),
            exclude=self.exclude,
        )
        self.pruned_layers = [layer.layer.name for layer in _walk(wrapped) if isinstance(layer, _wrapper_class())]
        return wrapped

    def _unsupported(self, layer, policy) -> str | None:
        """None when this step prunes ``layer``, else why not ("" for layers with nothing to prune)."""
        sparsity = tfmot().sparsity.keras
        custom = isinstance(layer, sparsity.PrunableLayer) or hasattr(layer, "get_prunable_weights")
        if not custom and not _registry().supports(layer):
            return "not supported by TF-MOT pruning (no PruneRegistry entry, not a PrunableLayer)" if has_weights(layer) else ""
        if not custom and not _registry()._LAYERS_WEIGHTS_MAP.get(layer.__class__, True):
            return ""  # a registered layer with nothing to prune (pooling, flatten, ...)
        if policy is not None and not policy.allow_pruning(layer):
            return "not selected by PruneForLatencyOnXNNPack (only layers XNNPACK runs sparse)"
        if self.m_by_n and type(layer).__name__ not in ("Conv2D", "Dense"):
            return f"m:n sparsity is only supported for Conv2D and Dense layers, not {type(layer).__name__}"
        return None

    def strip(self, model):
        if not self.pruned_layers:
            return model  # nothing was wrapped (e.g. a subclassed model)
        return tfmot().sparsity.keras.strip_pruning(model)

    def verify(self, model) -> dict:
        """Refuse to go on if stripping left less sparsity than asked (a silent TF-MOT failure)."""
        measured = kernel_sparsity(model, layers=self.pruned_layers)
        if self.pruned_layers and measured["overall"] < self.target_sparsity - SPARSITY_TOLERANCE:
            raise EdgekitError(
                f"pruning reached {measured['overall']:.1%} sparsity, the recipe asked for {self.target_sparsity:.1%}",
                hint="raise prune.epochs or lower prune.ramp_fraction so the schedule finishes",
            )
        report = {
            "target_sparsity": self.target_sparsity,
            "sparsity_after_strip": round(measured["overall"], 5),
            "sparsity_all_kernels": round(kernel_sparsity(model)["overall"], 5),
            "layers": {name: round(value, 5) for name, value in measured["layers"].items()},
            "pruned_layers": list(self.pruned_layers),
            "policy": self.policy,
            "schedule": self.last_schedule.to_report(),
        }
        if self.m_by_n:
            report["m_by_n"] = f"{self.m_by_n[0]}:{self.m_by_n[1]}"
            report["m_by_n_verified"] = self._check_m_by_n(model)
        return report

    def _check_m_by_n(self, model) -> bool:
        broken = [name for name, values in kernels(model).items() if name in self.pruned_layers and not follows_m_by_n(values, self.m_by_n)]
        if broken:
            raise EdgekitError(f"after stripping, {', '.join(broken)} no longer follow {self.m_by_n[0]}:{self.m_by_n[1]} sparsity")
        return True


def _registry():
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    return PruneRegistry


def _wrapper_class():
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    return PruneLowMagnitude


def _walk(model):
    from edgekit.compression.layers import all_layers

    return all_layers(model)


def _latency_policy(name: str, model):
    """TF-MOT's ``PruneForLatencyOnXNNPack`` for ``name = "xnnpack"`` (None for ``"none"``),
    checked against the model."""
    if name not in PRUNE_POLICIES:
        raise ModelError(f"unknown pruning policy {name!r}", hint=f"choose one of: {', '.join(PRUNE_POLICIES)}")
    if name == "none":
        return None
    policy = tfmot().sparsity.keras.PruneForLatencyOnXNNPack()
    try:
        policy.ensure_model_supports_pruning(model)
    except ValueError as exc:
        raise ModelError(
            f"{model.name} does not fit TF-MOT's PruneForLatencyOnXNNPack: {exc}",
            hint="the policy is for MobileNet-like nets on RGB input (ZeroPadding2D(1), then a 3x3 stride-2 Conv2D, ..., GlobalAveragePooling2D); use prune.policy = \"none\"",
        ) from exc
    return policy
