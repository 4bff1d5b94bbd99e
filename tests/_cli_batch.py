"""Run several ``edgekit`` command lines in one process: ``python -m tests._cli_batch < cases.json``.

Cases that load TensorFlow would each spend seconds importing it; here it loads once. Each
command line goes through the CLI's real entry point (``edgekit.cli.main``) with file
descriptors 1 and 2 redirected to files, so native output is captured as a separate process
would show it; the exit code is the ``SystemExit`` code. An exception that escapes ``main``
is printed as Python would print it (a traceback), so the test sees it. Input: a JSON list of
{"argv": [...], "cwd": "...", "tmp": "..." (optional: TMPDIR for that command line)}; output:
a JSON list of {"code", "stdout", "stderr"}.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback


def call(argv: list[str]) -> int:
    from edgekit.cli import main

    try:
        main(argv)
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:  # noqa: BLE001 - shown the way the interpreter would show it
        traceback.print_exc()
        return 1
    return 0


def run(argv: list[str], cwd: str, tmp: str | None = None) -> dict:
    os.chdir(cwd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, temporary_folder(tmp):
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = call(argv)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


@contextlib.contextmanager
def temporary_folder(tmp: str | None):
    """Point ``TMPDIR`` (and Python's cached ``tempfile.tempdir``) at ``tmp`` for one command."""
    if tmp is None:
        yield
        return
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = tmp, tmp
    try:
        yield
    finally:
        tempfile.tempdir = saved[1]
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]


if __name__ == "__main__":
    cases = json.load(sys.stdin)
    print(json.dumps([run(case["argv"], case["cwd"], case.get("tmp")) for case in cases]))
