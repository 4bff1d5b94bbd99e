"""Every command, fed bad input, fails with one clear line, the right exit code and no debris.

The cases live in ``tests/bad_inputs.py`` (one line each; commands that land later add
theirs there). All run once per module as real ``edgekit`` processes — those that load
TensorFlow together in one process — then each is checked on its own: exit code 2 for bad
input (1 for a failed run), exactly one ``error:`` line ending stderr that contains the
expected words, no traceback, and nothing added, changed or removed in the folder it ran in
(no output, no ``.partial-`` staging folder, nothing left in its ``TMPDIR``).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.bad_inputs import CASES as TABLE
from tests.bad_inputs import all_cases, build_workspace, case_id, run_cases
from tests.conftest import REPO

CASES = all_cases()
MIN_OWN_CASES = 6


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_tflite):
    return build_workspace(tmp_path_factory.mktemp("bad-inputs"), tiny_tflite["int8"])


@pytest.fixture(scope="module")
def outcomes(workspace):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return {case_id(o.case): o for o in run_cases(CASES, workspace, env)}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input_fails_cleanly(case, outcomes, workspace):
    outcome = outcomes[case_id(case)]
    assert not outcome.problems(), f"{case.argv}\n{outcome.stderr}"


def test_case_ids_are_unique():
    ids = [case_id(case) for case in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_command_has_cases_of_its_own():
    """Beyond the generic unknown-option and missing-argument cases, every command is fed
    at least MIN_OWN_CASES bad inputs of its own (one, for a command without parameters),
    and at least one of them checks that a message names the thing that is wrong."""
    from edgekit.cli import COMMANDS
    from edgekit.registry import load_object

    own = Counter(case.command for case in TABLE)
    for name, (path, _) in COMMANDS.items():
        minimum = MIN_OWN_CASES if load_object(path).params else 1
        assert own[name] >= minimum, f"{name}: {own[name]} cases in tests/bad_inputs.py CASES, want at least {minimum}"
        if minimum > 1:
            assert any("{" in case.fragment for case in TABLE if case.command == name), f"{name}: no case checks that the message names its file"
