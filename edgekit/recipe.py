"""Recipes: the TOML file that says what to build, validated into frozen dataclasses.

Validation is strict on purpose: a misspelt key (``sparsty``) silently ignored would build
the wrong model for ten minutes. Every error names the key, the file and, where the raw text
allows, the line, and lists the valid choices.
"""

from __future__ import annotations

import dataclasses
from collections import abc
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import RecipeError

QUANTIZE_MODES = ("qat", "ptq")
PRUNE_SCHEDULES = ("polynomial", "constant")
COLOR_MODES = ("grayscale", "rgb")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Where the model comes from: a factory function or a saved file."""

    factory: str | None = None
    file: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """The data set and how raw inputs are normalised: ``x = (raw - mean) / std``."""

    source: str = "mnist"
    mean: float | list[float] = 0.0
    std: float | list[float] = 255.0
    image_size: list[int] | None = None
    color: str = "grayscale"
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


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """Magnitude pruning with TF-MOT; ``sparsity = 0`` turns it off."""

    sparsity: float = 0.0
    epochs: int = 2
    schedule: str = "polynomial"
    learning_rate: float | None = None
    ramp_fraction: float = 0.6


@dataclass(frozen=True, kw_only=True)
class QuantizeSpec:
    """``qat`` fine-tunes with fake quantisation; ``ptq`` calibrates after training."""

    mode: str = "ptq"
    epochs: int = 1
    learning_rate: float | None = None
    calibration_samples: int = 200


@dataclass(frozen=True, kw_only=True)
class OutputSpec:
    """Where bundles and reports go, relative to the recipe unless absolute."""

    dir: str = "out"
    zip: bool = False
    latency_runs: int = 50


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """A whole validated recipe; ``base_dir`` anchors its relative paths."""

    name: str
    model: ModelSpec
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    prune: PruneSpec = field(default_factory=PruneSpec)
    quantize: QuantizeSpec = field(default_factory=QuantizeSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    targets: tuple[str, ...] = ("cpu",)
    target: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
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
        return data


_SECTIONS: dict[str, type] = {
    "model": ModelSpec,
    "data": DataSpec,
    "train": TrainSpec,
    "prune": PruneSpec,
    "quantize": QuantizeSpec,
    "output": OutputSpec,
}
_TOP_LEVEL = ("name", "targets", "target", *_SECTIONS)


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
    "model.factory": lambda spec: _factory_file(spec.model.factory),
    "data.source": lambda spec: spec.data.source,
    "output.dir": lambda spec: spec.output.dir,
}
_CLI_FLAG = {"output.dir": "--out DIR"}


def _factory_file(factory: str | None) -> str | None:
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
    targets = _check_targets(raw.get("targets", ["cpu"]), where)
    settings = _check_target_settings(raw.get("target", {}), where)
    recipe = Recipe(
        name=name, targets=targets, target=settings, base_dir=Path(base_dir), source=source, **sections
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
    ]
    for section, key, ok, wanted in rules:
        if not ok:
            value = getattr(getattr(recipe, section), key)
            raise RecipeError(f"{where(section, key)}: {section}.{key} = {value!r} must be {wanted}")
    choices = [
        ("quantize", "mode", recipe.quantize.mode, QUANTIZE_MODES),
        ("prune", "schedule", recipe.prune.schedule, PRUNE_SCHEDULES),
        ("data", "color", recipe.data.color, COLOR_MODES),
    ]
    for section, key, value, valid in choices:
        if value not in valid:
            raise RecipeError(
                f"{where(section, key)}: {section}.{key} = {value!r} is not valid",
                hint=f"choose one of: {', '.join(valid)}",
            )
    _check_normalisation(recipe.data, where)


def _check_normalisation(data: DataSpec, where: _Locator) -> None:
    stds = data.std if isinstance(data.std, list) else [data.std]
    if any(s == 0 for s in stds):
        raise RecipeError(f"{where('data', 'std')}: data.std must be non-zero (inputs are divided by it)")
