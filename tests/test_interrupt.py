"""Ctrl-C, SIGTERM or SIGKILL at any moment leave the previous output or the new one, never a half.

Builds are real ``edgekit build`` processes on the tiny recipe, interrupted when their log
shows a given stage; bundle writes are killed at random moments many times over. After every
kill, each bundle present must pass ``verify_bundle`` and no staging folder may remain once
the next run has started.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.bundle.manifest import verify_bundle
from edgekit.output.atomic import remove_stale_staging
from tests.conftest import default_sigint, edgekit_command, write_tiny_recipe

# Fewer epochs than the tiny recipe: every stage still runs, in a third of the time.
QUICK = ["--set", "train.epochs=2", "--set", "prune.epochs=1", "--set", "data.limit_train=256"]
# Where the slow test interrupts a real build (log line, signal, expected exit code).
BUILD_KILL_POINTS = [
    ("train: epoch 1/", signal.SIGINT, 130),
    ("compress ...", signal.SIGTERM, 130),
    ("prune: epoch 1/", signal.SIGINT, 130),
    ("convert ...", signal.SIGINT, 130),
    ("measuring ", signal.SIGTERM, 130),
    ("convert ...", signal.SIGKILL, -signal.SIGKILL),
]
RANDOM_KILLS = 20  # per signal, in test_bundle_writes_killed_at_random_moments


def start_build(recipe: Path, out: Path, env, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        edgekit_command("build", str(recipe), "--out", str(out), *QUICK, *extra),
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=default_sigint,
    )


def interrupt_at(process: subprocess.Popen, marker: str, sig: int, timeout: float = 600) -> tuple[int, str]:
    """Send ``sig`` when a stderr line contains ``marker``; return (exit code, all stderr)."""
    lines, deadline = [], time.monotonic() + timeout
    for line in process.stderr:
        lines.append(line)
        if marker in line:
            process.send_signal(sig)
            break
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {marker!r} in the build log after {timeout} s:\n{''.join(lines)}")
    else:
        pytest.fail(f"the build ended before {marker!r}:\n{''.join(lines)}")
    rest = process.communicate(timeout=timeout)[1]
    return process.returncode, "".join(lines) + rest


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def assert_complete(out: Path) -> None:
    bundles = out / "bundles"
    assert (out / "report.json").is_file()
    for bundle in (p for p in bundles.iterdir() if p.is_dir()):
        verify_bundle(bundle)
    for archive in bundles.glob("*.zip"):
        verify_bundle(archive)


def test_ctrl_c_while_training_leaves_nothing(tmp_path, cli_env):
    recipe, out = write_tiny_recipe(tmp_path), tmp_path / "out"
    code, log = interrupt_at(start_build(recipe, out, cli_env), "train: epoch 1/", signal.SIGINT)
    assert code == 130, log
    assert log.strip().splitlines()[-1] == "interrupted; nothing was written"
    assert "Traceback" not in log
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_kills_at_every_stage_keep_the_previous_build(tmp_path, cli_env):
    """A complete build, then Ctrl-C / SIGTERM / SIGKILL at each stage: the first build survives
    byte for byte; a SIGKILL's staging folder is removed by the next build, which completes.
    (Without checkpoints, so every build runs every stage: resuming is test_resume's.)"""
    recipe, out = write_tiny_recipe(tmp_path), tmp_path / "out"
    first = start_build(recipe, out, cli_env, "--set", "output.zip=true", "--no-cache")
    assert first.wait(timeout=900) == 0, first.stderr.read()
    assert_complete(out)
    before = tree_digest(out)
    for marker, sig, expected in BUILD_KILL_POINTS:
        code, log = interrupt_at(start_build(recipe, out, cli_env, "--set", "output.zip=true", "--no-cache"), marker, sig)
        assert code == expected, f"{sig.name} at {marker!r}: exit {code}\n{log}"
        assert "Traceback" not in log
        assert tree_digest(out) == before, f"{sig.name} at {marker!r} changed the previous output"
        if sig != signal.SIGKILL:
            assert leftovers(tmp_path) == [], f"{sig.name} at {marker!r} left {leftovers(tmp_path)}"
    # a stale staging folder of a killed build: the next build removes it and completes
    stale = tmp_path / f".out.partial-{_dead_pid()}-x1y2"
    (stale / "bundles").mkdir(parents=True)
    last = start_build(recipe, out, cli_env, "--set", "output.zip=true", "--no-cache")
    assert last.wait(timeout=900) == 0, last.stderr.read()
    assert_complete(out)
    assert leftovers(tmp_path) == []


def _dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _start_writer(destination: Path, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests._slow_writer", str(destination)], stdout=subprocess.PIPE, text=True, env=env,
        preexec_fn=default_sigint,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_bundle_writes_killed_at_random_moments(tmp_path, cli_env, sig):
    """RANDOM_KILLS kills at random moments of a loop rewriting a bundle: every time, the bundle is
    complete (the old or the new round) and verifies; stale staging goes on the next write."""
    destination = tmp_path / "bundle"
    rng = random.Random(sig)
    rounds_seen, mid_write = set(), 0
    for _ in range(RANDOM_KILLS):
        writer = _start_writer(destination, cli_env)
        first_round = writer.stdout.readline()  # one bundle is in place, the next is being written
        assert first_round.strip() == "1", first_round
        time.sleep(rng.uniform(0.0, 0.4))
        writer.send_signal(sig)
        writer.communicate(timeout=60)
        manifest = verify_bundle(destination)
        rounds_seen.add(manifest["name"])
        if sig == signal.SIGINT:
            assert leftovers(tmp_path) == []
        mid_write += bool(leftovers(tmp_path))
        remove_stale_staging(destination)
        assert leftovers(tmp_path) == []
    assert len(rounds_seen) > 1  # kills landed at different points of the loop
    if sig == signal.SIGKILL:
        assert mid_write > 0  # and some in the middle of writing a bundle


def test_stale_staging_of_a_live_process_is_kept(tmp_path):
    live = tmp_path / f".out.partial-{os.getpid()}-abcd"
    live.mkdir()
    foreign = tmp_path / ".out.partial-notapid"
    foreign.mkdir()
    dead = tmp_path / f".out.partial-{_dead_pid()}-abcd"
    dead.mkdir()
    assert remove_stale_staging(tmp_path / "out") == [dead]
    assert live.exists() and foreign.exists()


def test_a_retired_output_is_put_back_if_the_swap_was_killed(tmp_path):
    """Without renameat2 the swap is two renames; a kill between them is repaired next run."""
    retired = tmp_path / f".out.old-{_dead_pid()}-abcd"
    (retired / "previous").mkdir(parents=True)
    (retired / "previous" / "report.json").write_text("{}")
    remove_stale_staging(tmp_path / "out")
    assert (tmp_path / "out" / "report.json").read_text() == "{}"
    assert leftovers(tmp_path) == []
