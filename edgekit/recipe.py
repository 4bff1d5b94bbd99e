"""Recipes: the TOML file that says what to build, validated into frozen dataclasses.

Validation is strict on purpose: a misspelt key (``sparsty``) silently ignored would build
the wrong model for ten minutes. Every error names the key, the file and, where the raw text
allows, the line, and lists the valid choices.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import InputError, RecipeError
from edgekit.vocabulary import CLUSTER_INITS, COLOR_MODES, PRUNE_POLICIES, PRUNE_SCHEDULES, QUANTIZATIONS, QUANTIZE_METHODS, STRATEGIES, TASKS

__all__ = [
    "AnalyzeSpec",
    "ClusterSpec",
    "DataSpec",
    "DistillSpec",
    "factory_file",
    "DistributedSpec",
    "FitSpec",
    "load_recipe",
    "MetadataSpec",
    "ModelSpec",
    "OutputSpec",
    "parse_m_by_n",
    "parse_override",
    "PruneSpec",
    "QuantizeSpec",
    "Recipe",
    "recipe_from_dict",
    "TrainSpec",
]


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Where the model comes from: a factory function or a saved file (``.keras``, ``.h5``, a
    SavedModel folder, ``.onnx``, a PyTorch ``.pt2``). ``input_shape`` is the per-sample input
    shape a factory's PyTorch module takes, channels first (``[3, 32, 32]``)."""

    factory: str | None = None
    file: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_shape: list[int] | None = None


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """The data set and how raw inputs are normalised: ``x = (raw - mean) / std``."""

    source: str = "mnist"
    mean: float | list[float] = 0.0
    std: float | list[float] = 255.0
    image_size: list[int] | None = None
    color: str | None = None  # an image folder's colour; default: the model's input channels
    test_fraction: float = 0.2
    limit_train: int | None = None
    limit_test: int | None = None
    labels: list[str] | None = None


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    """Training of the float model (a factory model starts untrained)."""

    enabled: bool = True
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    augment_shift: int = 0
    strategy: str = "none"  # "mirrored" (all local GPUs, else CPUs) or "multi_worker" (TF_CONFIG)


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """Magnitude pruning with TF-MOT; ``sparsity = 0`` turns it off."""

    sparsity: float = 0.0
    epochs: int = 2
    schedule: str = "polynomial"
    learning_rate: float | None = None
    ramp_fraction: float = 0.6
    m_by_n: str | None = None  # structured sparsity, e.g. "2:4" (2 zeros in every 4 weights)
    policy: str = "none"  # "xnnpack": TF-MOT's PruneForLatencyOnXNNPack
    exclude: list[str] = field(default_factory=list)  # layer names or types left dense
    sparse_encoding: bool = False  # try the converter's sparse tensor encoding (measured)

    @property
    def enabled(self) -> bool:
        return self.sparsity > 0 or self.m_by_n is not None

    @property
    def target_sparsity(self) -> float:
        """The fraction of zeros pruning aims at: ``sparsity``, or m/n for m:n sparsity."""
        if self.m_by_n is None:
            return self.sparsity
        zeros, block = parse_m_by_n(self.m_by_n)
        return zeros / block


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    """Weight clustering with TF-MOT: at most ``clusters`` unique values per kernel; 0 = off."""

    clusters: int = 0
    epochs: int = 2
    learning_rate: float | None = None
    init: str = "kmeans++"
    exclude: list[str] = field(default_factory=list)
    layers: Mapping[str, int] = field(default_factory=dict)  # per layer name: its own cluster count, e.g. { dense1 = 4 }


@dataclass(frozen=True, kw_only=True)
class DistillSpec:
    """Knowledge distillation into a smaller student; on when ``student`` or ``width`` is set.

    ``teacher`` is ``"model"`` (the recipe's trained float model) or a saved model file. The
    student is a factory (``student`` + ``student_kwargs``) or the teacher with every layer's
    width multiplied by ``width``. Loss = alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher/T,
    student/T). With ``guide`` the teacher keeps guiding pruning, clustering and QAT.
    ``self_distill`` trains no student: the float model guides the fine-tuning of its own
    pruned, clustered and QAT copy.
    """

    teacher: str = "model"
    student: str | None = None
    student_kwargs: Mapping[str, Any] = field(default_factory=dict)
    width: float | None = None
    alpha: float = 0.1
    temperature: float = 4.0
    epochs: int = 10
    learning_rate: float | None = None
    guide: bool = True
    self_distill: bool = False

    @property
    def enabled(self) -> bool:
        return self.student is not None or self.width is not None or self.self_distill


@dataclass(frozen=True, kw_only=True)
class AnalyzeSpec:
    """Per-layer sensitivity analysis (``edgekit analyze``); ``threshold`` lets the build use it.

    Layers whose accuracy drops by more than ``threshold`` (a fraction: 0.01 = one point) when
    pruned alone, or quantised alone, are left unpruned, or unquantised, by the build.
    """

    threshold: float | None = None
    samples: int = 1000
@dataclass(frozen=True, kw_only=True)
class QuantizeSpec:
    """``qat`` fine-tunes with fake quantisation; ``ptq`` calibrates after training."""

    mode: str = "ptq"
    epochs: int = 1
    learning_rate: float | None = None
    calibration_samples: int = 200
    exclude: list[str] = field(default_factory=list)  # layer names or types kept in float


@dataclass(frozen=True, kw_only=True)
class FitSpec:
    """What ``edgekit fit`` may search; every list left out takes its default from the
    recipe and the target (``edgekit.flows.fit.space``).

    ``widths`` scale the recipe's model (below 1 a student distilled from it); ``clusters``
    are counts for every clusterable kernel (0: off), and ``split_largest`` also tries the
    largest kernel at each lower count; ``quantizations`` and ``modes`` (``qat``/``ptq``, for
    int8) are the target's. ``validation`` is the fraction of the training split held out to
    rank candidates on (0: rank on the test split, which makes its figures optimistic);
    ``halving`` is how many candidates compete for each place in the next rung.
    """

    widths: list[float] | None = None
    sparsities: list[float] | None = None
    clusters: list[int] | None = None
    split_largest: bool = True
    quantizations: list[str] | None = None
    modes: list[str] | None = None
    validation: float = 0.1
    halving: int = 3


@dataclass(frozen=True, kw_only=True)
class DistributedSpec:
    """Where ``edgekit sweep`` and ``fit`` run their tasks (``edgekit.distributed``).

    ``scheduler`` is a Dask scheduler (``tcp://HOST:PORT``, or ``tls://`` with the
    ``tls_*`` PEM files) that the command uses unless ``--workers``/``--scheduler`` say
    otherwise; a plain ``tcp://`` address off this machine needs ``--insecure`` on the command
    line (a recipe cannot grant it). ``threads`` is TensorFlow's thread count in every process
    that trains or converts a variant: results depend on it, so it is the same everywhere.
    """

    scheduler: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    threads: int = 1


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """Where bundles and reports go, relative to the recipe unless absolute.

    ``flavour`` says how bundles are dressed for one kind of app (see ``edgekit.flavours``):
    ``"plain"``, or ``"phone"`` (TFLite metadata in the model, a README with Kotlin).
    """

    dir: str = "out"
    zip: bool = False
    latency_runs: int = 50
    flavour: str = "plain"
    sign_key: str | None = None  # an OpenSSH private key: every bundle is signed (edgekit.bundle.signing)


@dataclass(frozen=True, kw_only=True)
class MetadataSpec:
    """What the model says about itself in the TFLite metadata the phone flavour writes.

    ``name`` defaults to the recipe's name and ``description`` to one made from the data;
    empty fields are left out of the metadata.
    """

    name: str | None = None
    description: str | None = None
    version: str = ""
    author: str = ""
    license: str = ""


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """A whole validated recipe; ``base_dir`` anchors its relative paths."""

    name: str
    model: ModelSpec
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    prune: PruneSpec = field(default_factory=PruneSpec)
    quantize: QuantizeSpec = field(default_factory=QuantizeSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    analyze: AnalyzeSpec = field(default_factory=AnalyzeSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    metadata: MetadataSpec = field(default_factory=MetadataSpec)
    fit: FitSpec = field(default_factory=FitSpec)
    distributed: DistributedSpec = field(default_factory=DistributedSpec)
    targets: tuple[str, ...] = ("cpu",)
    target: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    task: str = "auto"  # what the outputs mean (edgekit.vocabulary.TASKS); training needs classification
    base_dir: Path = Path(".")
    source: str = "<recipe>"

    def resolve(self, path: str | Path) -> Path:
        """A path from the recipe, anchored at the recipe's folder."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data, for manifests and reports (no local paths)."""
        data = dataclasses.asdict(self)
        data.pop("base_dir")
        data.pop("source")
        data["targets"] = list(self.targets)
        data["distributed"] = {"threads": self.distributed.threads}  # what results depend on; not where they ran
        return data


_SECTIONS: dict[str, type] = {
    "model": ModelSpec,
    "data": DataSpec,
    "train": TrainSpec,
    "prune": PruneSpec,
    "quantize": QuantizeSpec,
    "distill": DistillSpec,
    "cluster": ClusterSpec,
    "analyze": AnalyzeSpec,
    "output": OutputSpec,
    "metadata": MetadataSpec,
    "fit": FitSpec,
    "distributed": DistributedSpec,
}
_TOP_LEVEL = ("name", "task", "targets", "target", *_SECTIONS)


def load_recipe(
    path: str | Path, *, overrides: Mapping[str, Any] | None = None, trusted: abc.Iterable[str] = ()
) -> Recipe:
    """Read and validate a recipe file; ``overrides`` maps ``"section.key"`` to values.

    Paths written in the file must stay inside the recipe's folder; paths given on the command
    line (``overrides``, or keys listed in ``trusted`` such as ``output.dir`` for ``--out``) may
    point anywhere.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}", hint="give the path of a .toml recipe")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not a text file (invalid UTF-8 at byte {exc.start})", hint="recipes are UTF-8 TOML") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from exc
    for dotted, value in (overrides or {}).items():
        _apply_override(raw, dotted, value, source=str(path))
    recipe = recipe_from_dict(raw, base_dir=path.parent.resolve(), source=str(path), text=text)
    _check_confined(recipe, _Locator(str(path), text), trusted={*(overrides or {}), *trusted})
    return recipe


# Recipe keys that name files or folders; the callable picks the path out of the value.
_PATH_KEYS: dict[str, Any] = {
    "model.file": lambda spec: spec.model.file,
    "model.factory": lambda spec: factory_file(spec.model.factory),
    "data.source": lambda spec: spec.data.source,
    "output.dir": lambda spec: spec.output.dir,
    "output.sign_key": lambda spec: spec.output.sign_key,
}
_CLI_FLAG = {"output.dir": "--out DIR"}


def factory_file(factory: str | None) -> str | None:
    """The file part of ``"file.py:function"``; None for ``"package.module:function"``."""
    target = (factory or "").partition(":")[0]
    return target if target.endswith(".py") else None


def _check_confined(recipe: "Recipe", where: "_Locator", *, trusted: abc.Set[str]) -> None:
    """A recipe from elsewhere may only reach files in its own folder (symlinks followed).

    Otherwise a downloaded recipe could run ``../../somewhere/evil.py`` as a model factory,
    read any file as data, or write its output over another project.
    """
    root = recipe.base_dir.resolve()
    for key, pick in _PATH_KEYS.items():
        value = pick(recipe)
        if value is None or any(key == t or key.startswith(f"{t}.") for t in trusted):
            continue
        resolved = recipe.resolve(value).resolve()
        if resolved != root and not resolved.is_relative_to(root):
            section, name = key.split(".")
            flag = _CLI_FLAG.get(key, f"--set {key}=PATH")
            written = getattr(getattr(recipe, section), name)
            raise RecipeError(
                f"{where(section, name)}: {key} = {written!r} points outside the recipe's folder {root}",
                hint=f"move it next to the recipe, or give it on the command line with {flag}",
            )


def recipe_from_dict(
    raw: Mapping[str, Any],
    *,
    base_dir: str | Path = ".",
    source: str = "<recipe>",
    text: str = "",
) -> Recipe:
    """Validate plain data (parsed TOML or a dict from Python) into a :class:`Recipe`."""
    where = _Locator(source, text)
    _reject_unknown(raw, _TOP_LEVEL, where, section=None)
    if "model" not in raw:
        raise RecipeError(f"{source}: missing [model] section", hint="set model.factory or model.file")
    sections = {
        name: _build_section(spec_type, raw.get(name, {}), where, name)
        for name, spec_type in _SECTIONS.items()
    }
    name = _check_type(raw.get("name", Path(source).stem), str, where, None, "name")
    task = _check_type(raw.get("task", "auto"), str, where, None, "task")
    targets = _check_targets(raw.get("targets", ["cpu"]), where)
    settings = _check_target_settings(raw.get("target", {}), where)
    recipe = Recipe(
        name=name, task=task, targets=targets, target=settings, base_dir=Path(base_dir), source=source, **sections
    )
    _check_values(recipe, where)
    return recipe


def parse_override(assignment: str) -> tuple[str, Any]:
    """Parse a CLI ``--set section.key=value``; the value is read as TOML, else as a string."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {assignment!r}: expected section.key=value, e.g. train.epochs=1")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


def _apply_override(raw: dict, dotted: str, value: Any, *, source: str) -> None:
    parts = dotted.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RecipeError(f"{source}: cannot set {dotted!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


class _Locator:
    """Finds the line of a key in the recipe text so errors can point at it."""

    def __init__(self, source: str, text: str):
        self.source = source
        self.lines = text.splitlines()

    def __call__(self, section: str | None, key: str) -> str:
        line = self._find(section, key)
        return f"{self.source}:{line}" if line else self.source

    def _find(self, section: str | None, key: str) -> int | None:
        current = None
        key_pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self.lines, start=1):
            header = re.match(r"^\s*\[([^\]]+)\]", line)
            if header:
                current = header.group(1).strip()
            elif current == section and key_pattern.match(line):
                return number
        return None


def _reject_unknown(raw: Mapping, allowed, where: _Locator, *, section: str | None) -> None:
    if not isinstance(raw, Mapping):
        raise RecipeError(f"{where(None, section)}: [{section}] must be a table")
    for key in raw:
        if key not in allowed:
            scope = f"[{section}]" if section else "top level"
            raise RecipeError(
                f"{where(section, key)}: unknown key {key!r} in {scope}",
                hint=f"valid keys: {', '.join(allowed)}",
            )


def _build_section(spec_type: type, raw: Mapping, where: _Locator, section: str):
    names = [f.name for f in dataclasses.fields(spec_type)]
    _reject_unknown(raw, names, where, section=section)
    hints = typing.get_type_hints(spec_type)
    values = {key: _check_type(value, hints[key], where, section, key) for key, value in raw.items()}
    return spec_type(**values)


def _check_type(value: Any, expected: Any, where: _Locator, section: str | None, key: str) -> Any:
    """Accept ``value`` if it matches the annotation; ints pass for floats."""
    if _matches(value, expected):
        if expected is float or (isinstance(value, int) and float in _union_args(expected)):
            return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        return value
    label = f"{section}.{key}" if section else key
    raise RecipeError(
        f"{where(section, key)}: {label} must be {_describe(expected)}, got {type(value).__name__} {value!r}"
    )


def _union_args(expected: Any) -> tuple:
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return typing.get_args(expected)
    return (expected,)


def _matches(value: Any, expected: Any) -> bool:
    if any(_matches_one(value, option) for option in _union_args(expected)):
        return True
    return False


def _matches_one(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if expected is type(None):
        return value is None
    if expected is Any:
        return True
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(expected) or (Any,)
        return isinstance(value, (list, tuple)) and all(_matches(v, item_type) for v in value)
    if origin in (Mapping, dict, abc.Mapping) or expected in (Mapping, dict):
        return isinstance(value, Mapping)
    return isinstance(value, expected) if isinstance(expected, type) else False


def _describe(expected: Any) -> str:
    names = []
    for option in _union_args(expected):
        if option is type(None):
            continue
        origin = typing.get_origin(option)
        if origin in (list, tuple):
            names.append(f"a list of {_describe(typing.get_args(option)[0])}")
        elif origin in (Mapping, dict, abc.Mapping) or option in (Mapping, dict):
            names.append("a table")
        else:
            names.append({bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(option, str(option)))
    return " or ".join(names)


def _check_targets(value: Any, where: _Locator) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not _matches(value, list[str]) or not value:
        raise RecipeError(f"{where(None, 'targets')}: targets must be a non-empty list of target names, e.g. [\"cpu\"]")
    from edgekit.registry import target_names

    for item in value:
        name = item.partition(":")[0]
        if name not in target_names():
            raise RecipeError(
                f"{where(None, 'targets')}: unknown target {name!r}",
                hint=f"valid targets: {', '.join(target_names())}",
            )
    return tuple(value)


def _check_target_settings(value: Any, where: _Locator) -> dict[str, dict[str, Any]]:
    """``[target.NAME]`` tables: per-target settings such as budgets or compiler options."""
    from edgekit.errors import InputError
    from edgekit.registry import get_target, target_names

    if not isinstance(value, Mapping):
        raise RecipeError(f"{where(None, 'target')}: 'target' must be tables like [target.mcu]")
    for name, settings in value.items():
        section = f"target.{name}"
        if name not in target_names():
            raise RecipeError(f"{where(None, section)}: unknown target [{section}]", hint=f"valid targets: {', '.join(target_names())}")
        if not isinstance(settings, Mapping):
            raise RecipeError(f"{where(None, section)}: [{section}] must be a table")
        try:
            get_target(name).variant(**settings)
        except InputError as exc:
            key = next(iter(settings), "")
            raise RecipeError(f"{where(section, key)}: [{section}]: {exc}") from exc
    return {name: dict(settings) for name, settings in value.items()}


def _check_values(recipe: Recipe, where: _Locator) -> None:
    """Range checks that types alone cannot express."""
    model = recipe.model
    if (model.factory is None) == (model.file is None):
        raise RecipeError(f"{where('model', 'factory')}: [model] needs exactly one of factory or file")
    if model.input_shape is not None and (not model.input_shape or min(model.input_shape) < 1 or model.factory is None):
        raise RecipeError(f"{where('model', 'input_shape')}: model.input_shape = {model.input_shape!r} must be positive sizes for a factory's PyTorch module, e.g. [3, 32, 32]")
    rules = [
        ("train", "epochs", recipe.train.epochs >= (1 if recipe.train.enabled else 0), "at least 1"),
        ("train", "batch_size", recipe.train.batch_size >= 1, "at least 1"),
        ("train", "learning_rate", recipe.train.learning_rate > 0, "positive"),
        ("train", "augment_shift", recipe.train.augment_shift >= 0, "0 or more pixels"),
        ("prune", "sparsity", 0 <= recipe.prune.sparsity < 1, "in [0, 1), e.g. 0.8 for 80 %"),
        ("prune", "epochs", recipe.prune.epochs >= 1, "at least 1"),
        ("prune", "ramp_fraction", 0 < recipe.prune.ramp_fraction <= 1, "in (0, 1]"),
        ("quantize", "epochs", recipe.quantize.epochs >= 1, "at least 1"),
        ("quantize", "calibration_samples", recipe.quantize.calibration_samples >= 1, "at least 1"),
        ("data", "test_fraction", 0 < recipe.data.test_fraction < 1, "in (0, 1)"),
        ("output", "latency_runs", recipe.output.latency_runs >= 1, "at least 1"),
        ("cluster", "clusters", recipe.cluster.clusters == 0 or recipe.cluster.clusters >= 2, "0 (off) or at least 2"),
        ("cluster", "epochs", recipe.cluster.epochs >= 1, "at least 1"),
        ("distill", "alpha", 0 <= recipe.distill.alpha <= 1, "in [0, 1]"),
        ("distill", "temperature", recipe.distill.temperature > 0, "positive"),
        ("distill", "epochs", recipe.distill.epochs >= 1, "at least 1"),
        ("distill", "width", recipe.distill.width is None or 0 < recipe.distill.width < 1, "in (0, 1), e.g. 0.25"),
        ("analyze", "threshold", recipe.analyze.threshold is None or 0 <= recipe.analyze.threshold < 1, "in [0, 1), e.g. 0.01"),
        ("analyze", "samples", recipe.analyze.samples >= 1, "at least 1"),
        ("fit", "validation", 0 <= recipe.fit.validation <= 0.5, "in [0, 0.5], e.g. 0.1 for 10 % of the training split (the rest trains every candidate)"),
        ("fit", "halving", recipe.fit.halving >= 2, "at least 2"),
    ]
    for section, key, ok, wanted in rules:
        if not ok:
            value = getattr(getattr(recipe, section), key)
            raise RecipeError(f"{where(section, key)}: {section}.{key} = {value!r} must be {wanted}")
    choices = [
        ("quantize", "mode", recipe.quantize.mode, QUANTIZE_METHODS),
        ("prune", "schedule", recipe.prune.schedule, PRUNE_SCHEDULES),
        ("data", "color", recipe.data.color or COLOR_MODES[0], COLOR_MODES),
        ("prune", "policy", recipe.prune.policy, PRUNE_POLICIES),
        ("cluster", "init", recipe.cluster.init, CLUSTER_INITS),
        ("train", "strategy", recipe.train.strategy, STRATEGIES),
    ]
    for section, key, value, valid in choices:
        if value not in valid:
            raise RecipeError(
                f"{where(section, key)}: {section}.{key} = {value!r} is not valid",
                hint=f"choose one of: {', '.join(valid)}",
            )
    _check_task(recipe, where)
    _check_normalisation(recipe.data, where)
    _check_flavour(recipe, where)
    _check_compression(recipe, where)
    _check_fit(recipe.fit, where)
    _check_distributed(recipe.distributed, where)


def _check_flavour(recipe: Recipe, where: _Locator) -> None:
    """A known flavour, and one that has an artifact of this recipe to dress."""
    from edgekit.errors import InputError
    from edgekit.flavours import dressed_labels, flavour_names, get_flavour
    from edgekit.registry import get_target

    name = recipe.output.flavour
    if name not in flavour_names():
        raise RecipeError(f"{where('output', 'flavour')}: output.flavour = {name!r} is not valid", hint=f"choose one of: {', '.join(flavour_names())}")
    wanted = dressed_labels(get_flavour(name))
    if not wanted:
        return
    try:
        built = {get_target(spec).variant(**recipe.target.get(spec.partition(":")[0], {})).label for spec in recipe.targets}
    except InputError as exc:
        raise RecipeError(f"{where(None, 'targets')}: {exc}") from exc
    if not built & set(wanted):
        specs = " or ".join(repr(label.replace("-", ":", 1)) for label in wanted)
        raise RecipeError(
            f"{where('output', 'flavour')}: flavour {name!r} dresses the {', '.join(wanted)} artifacts, "
            f"but this recipe builds {', '.join(sorted(built))}",
            hint=f"add {specs} to targets",
        )



def _check_task(recipe: Recipe, where: _Locator) -> None:
    """A known task, and one that training can learn (``fit`` trains classifiers)."""
    if recipe.task not in TASKS:
        raise RecipeError(f"{where(None, 'task')}: task = {recipe.task!r} is not valid", hint=f"choose one of: {', '.join(TASKS)}")
    if recipe.train.enabled and recipe.task not in ("auto", "classification"):
        raise RecipeError(
            f"{where(None, 'task')}: task = {recipe.task!r} with training on: edgekit trains classifiers (cross-entropy on labels)",
            hint="train the model elsewhere and load it with model.file and train.enabled = false, or use task = \"classification\"",
        )


def parse_m_by_n(text: str) -> tuple[int, int]:
    """``"2:4"`` -> ``(2, 4)``: m zeros in every n consecutive weights."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match or not 0 < int(match.group(1)) < int(match.group(2)):
        raise RecipeError(f"prune.m_by_n = {text!r} must look like \"2:4\" (m zeros in every n weights, 0 < m < n)")
    return int(match.group(1)), int(match.group(2))


def _check_compression(recipe: Recipe, where: _Locator) -> None:
    """Combinations of compression keys that cannot work together."""
    prune, distill = recipe.prune, recipe.distill
    for layer, count in recipe.cluster.layers.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise RecipeError(f"{where('cluster', 'layers')}: cluster.layers.{layer} = {count!r} must be a whole number of clusters, at least 2")
    if recipe.cluster.layers and recipe.cluster.clusters == 0:
        raise RecipeError(f"{where('cluster', 'layers')}: cluster.layers needs cluster.clusters (the count for every other layer)", hint="e.g. clusters = 16")
    if prune.m_by_n is not None:
        try:
            parse_m_by_n(prune.m_by_n)
        except RecipeError as exc:
            raise RecipeError(f"{where('prune', 'm_by_n')}: {exc.message}") from exc
        if prune.sparsity > 0:
            raise RecipeError(
                f"{where('prune', 'sparsity')}: prune.sparsity and prune.m_by_n both set",
                hint="m:n sparsity fixes the fraction of zeros; remove prune.sparsity",
            )
    if distill.student is not None and distill.width is not None:
        raise RecipeError(
            f"{where('distill', 'width')}: distill.student and distill.width both set",
            hint="give a student factory, or a width to shrink the teacher by, not both",
        )
    if distill.self_distill and (distill.student is not None or distill.width is not None):
        raise RecipeError(
            f"{where('distill', 'self_distill')}: distill.self_distill trains no student; remove distill.student / distill.width",
        )
    if distill.self_distill and not distill.guide:
        raise RecipeError(f"{where('distill', 'guide')}: distill.self_distill only works through guide = true")
    if distill.student_kwargs and distill.student is None:
        raise RecipeError(f"{where('distill', 'student_kwargs')}: distill.student_kwargs needs distill.student")


def _check_distributed(spec: DistributedSpec, where: _Locator) -> None:
    """Threads in range; the scheduler a well-formed address, its TLS files all or none (the
    TLS rule itself is decided by the command, which knows about --insecure)."""
    from edgekit.distributed.address import parse_address

    if not 1 <= spec.threads <= 256:
        raise RecipeError(f"{where('distributed', 'threads')}: distributed.threads = {spec.threads} must be 1 to 256")
    if spec.scheduler is not None:
        try:
            parse_address(spec.scheduler, flag="distributed.scheduler")
        except InputError as exc:
            raise RecipeError(f"{where('distributed', 'scheduler')}: {exc.message}", hint=exc.hint) from None
    files = [spec.tls_ca, spec.tls_cert, spec.tls_key]
    if any(files) and not all(files):
        raise RecipeError(f"{where('distributed', 'tls_ca')}: [distributed] needs all of tls_ca, tls_cert and tls_key, or none")


def _check_fit(spec: FitSpec, where: _Locator) -> None:
    """Every value of a ``[fit]`` list in range, and no list empty (that would search nothing)."""
    rules = {
        "widths": (lambda w: 0 < w <= 1, "in (0, 1], e.g. 0.5 for half the channels"),
        "sparsities": (lambda s: 0 <= s < 1, "in [0, 1), e.g. 0.5"),
        "clusters": (lambda c: c == 0 or c >= 2, "0 (off) or at least 2"),
        "quantizations": (lambda q: q in QUANTIZATIONS, f"one of {', '.join(QUANTIZATIONS)}"),
        "modes": (lambda m: m in QUANTIZE_METHODS, f"one of {', '.join(QUANTIZE_METHODS)}"),
    }
    for key, (ok, wanted) in rules.items():
        values = getattr(spec, key)
        if values is None:
            continue
        if not values:
            raise RecipeError(f"{where('fit', key)}: fit.{key} is empty", hint="leave it out for the default, or list at least one value")
        for value in values:
            if not ok(value):
                raise RecipeError(f"{where('fit', key)}: fit.{key} value {value!r} must be {wanted}")


def _check_normalisation(data: DataSpec, where: _Locator) -> None:
    stds = data.std if isinstance(data.std, list) else [data.std]
    if any(s == 0 for s in stds):
        raise RecipeError(f"{where('data', 'std')}: data.std must be non-zero (inputs are divided by it)")
