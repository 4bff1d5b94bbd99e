"""Each choice list (quantizations, modes, pruning policies, colour modes...) is written once,
in ``edgekit.vocabulary``: no module spells out the same set of words again."""

from __future__ import annotations

import ast

from edgekit import vocabulary
from tests.test_import_graph import modules

LISTS = {name: value for name, value in vars(vocabulary).items() if name.isupper() and isinstance(value, tuple)}
# The same words meaning something else.
COINCIDENCES = {("edgekit.runtime.bench", "PRUNE_POLICIES"): "xnnpack/none: the delegates LiteRT builds in"}


def literal_word_lists(path):
    """Tuples, lists and sets of two or more string constants written in ``path``, with their lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        elements = getattr(node, "elts", None) if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else None
        if elements and len(elements) >= 2 and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in elements):
            yield node.lineno, frozenset(e.value for e in elements)


def test_the_vocabulary_is_plain_data():
    assert set(LISTS) >= {"QUANTIZATIONS", "QUANTIZE_METHODS", "SWEEP_MODES", "PRUNE_POLICIES", "COLOR_MODES", "STRATEGIES"}
    assert vocabulary.QUANTIZATIONS == (*vocabulary.FLOAT_QUANTIZATIONS, *vocabulary.INTEGER_QUANTIZATIONS)
    assert vocabulary.sweep_quantization("qat") == "int8" and vocabulary.sweep_quantization("float16") == "float16"


def test_no_module_lists_a_vocabulary_again():
    words = {frozenset(value): name for name, value in LISTS.items() if len(value) >= 2}
    found = []
    for module, path in modules().items():
        if module == "edgekit.vocabulary":
            continue
        repeated = [(line, words[literal]) for line, literal in literal_word_lists(path) if literal in words]
        found += [f"{module}:{line} repeats {name}" for line, name in repeated if (module, name) not in COINCIDENCES]
    assert found == []
