"""An interrupt that TensorFlow turns into another error on its way out (its stack-trace
mapper asserts "Concurrent access?" when Ctrl-C lands inside function tracing) is still an
interrupt: exit 130 and one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import default_sigint

PROBE = """
import os, signal, sys, time
import click
from edgekit import cli

@click.command()
def traced():
    try:
        os.kill(os.getpid(), signal.SIG{signal})
        time.sleep(5)
    except KeyboardInterrupt:
        raise AssertionError("Concurrent access?")  # what tf_stack raises when the interrupt unwinds it

cli.COMMANDS["traced"] = ("__main__:traced", "")
cli.main(["traced"])
"""


def _run(sig: str):
    return subprocess.run([sys.executable, "-c", PROBE.format(signal=sig)], capture_output=True, text=True, timeout=60, preexec_fn=default_sigint)


def test_an_interrupt_turned_into_an_assertion_is_an_interrupt():
    for sig in ("INT", "TERM"):
        result = _run(sig)
        assert result.returncode == 130, result.stderr
        assert result.stderr.strip() == "interrupted; nothing was written"


def test_an_error_without_an_interrupt_is_still_a_bug_with_its_traceback():
    code = "import click\nfrom edgekit import cli\n@click.command()\ndef broken():\n    raise AssertionError('a bug')\ncli.COMMANDS['broken'] = ('__main__:broken', '')\ncli.main(['broken'])\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" in result.stderr and "AssertionError: a bug" in result.stderr


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_python_swallowed_stops_the_next_unit_of_work(monkeypatch):
    """A KeyboardInterrupt raised inside a ``__del__`` or weak-reference callback (TensorFlow runs
    many) is printed as "Exception ignored" and lost; the next stage, batch or fit candidate
    raises it again."""
    import signal

    from edgekit import interrupts
    from edgekit.flows.stages import StageTimer

    monkeypatch.setattr(interrupts, "_received", [])

    class Dies:
        def __del__(self):
            interrupts._interrupt(signal.SIGINT, None)

    Dies()  # the interrupt is swallowed here
    assert interrupts.interrupted()
    with pytest.raises(KeyboardInterrupt), StageTimer().stage("next"):
        pass
