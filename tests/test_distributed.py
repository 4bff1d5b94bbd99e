"""Sweeps and budget searches on Dask, on a real cluster on 127.0.0.1 (no mocks).

The default tier: the TLS decision (from the address alone: nothing here ever connects outside
127.0.0.0/8), the worker count checks, and a 6-variant sweep (CPU and Edge TPU) through a real
``dask scheduler`` with two ``dask worker`` processes, compared with the sequential run: the
same ``.tflite`` bytes, figures (latency aside) and Pareto fronts. In the sequential run the
second sparsity's QAT model is made after the first's, on the cluster each first on its worker:
the Edge TPU file carries the QAT input layer's name, so it catches a name that depends on
what a process made before. Behind ``-m slow``: the same sweep on
``--workers 2`` (a LocalCluster), a fit through the cluster picking the sequential winner, and
a worker killed mid-sweep.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from edgekit.distributed.address import TlsFiles, decide, is_loopback
from edgekit.distributed.settings import check_workers, placement
from edgekit.errors import InputError
from tests.conftest import edgekit_command, write_tiny_recipe

pytest.importorskip("distributed", reason="Dask's distributed is not installed (pip install 'edgekit-tflite[distributed]')")

from tests._dask_cluster import LocalDask, free_port, worker_env  # noqa: E402

GRID = ("--sparsity", "0,0.5", "--quantize", "float32,qat", "--targets", "cpu,edgetpu")
LATENCY = ("latency_us", "seconds")


# --- the decision, from the address alone ---------------------------------------------------


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://127.9.9.9:1", "tcp://localhost:8786", "tcp://[::1]:8786"])
def test_plain_tcp_on_loopback_is_allowed(address):
    assert decide(address).tls is None


@pytest.mark.parametrize("address", ["tcp://10.1.2.3:8786", "tcp://192.168.1.5:8786", "tcp://scheduler.example.com:8786", "tcp://[2001:db8::1]:8786", "tcp://0.0.0.0:8786"])
def test_plain_tcp_off_loopback_needs_tls_or_insecure(address):
    with pytest.raises(InputError) as refused:
        decide(address)
    assert "unencrypted and unauthenticated" in refused.value.message and "tls://" in refused.value.hint
    assert decide(address, insecure=True).insecure


def test_tls_needs_all_three_files_and_plain_tcp_refuses_them(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN-----\n")
    files = TlsFiles(str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert decide("tls://10.1.2.3:8786", tls=files).tls == files
    with pytest.raises(InputError, match="tls:// needs --tls-ca"):
        decide("tls://10.1.2.3:8786")
    with pytest.raises(InputError, match="--tls-\\* files given for a plain tcp://"):
        decide("tcp://10.1.2.3:8786", tls=files)
    with pytest.raises(InputError, match="no such file"):
        decide("tls://10.1.2.3:8786", tls=TlsFiles(str(tmp_path / "missing.pem"), files.cert, files.key))


@pytest.mark.parametrize("address", ["10.1.2.3:8786", "http://127.0.0.1:8786", "tcp://127.0.0.1", "tcp://127.0.0.1:99999", "tcp://a b:1", "tcp://[zz::1]:1", ""])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(InputError):
        decide(address)


def test_a_name_is_never_resolved_to_decide():
    assert is_loopback("localhost") and not is_loopback("localhost.evil.example") and not is_loopback("127.0.0.1.nip.io")


def test_worker_counts_are_checked_before_anything_starts():
    with pytest.raises(InputError, match="at least 1 worker"):
        check_workers(0)
    with pytest.raises(InputError, match="GiB available"):
        check_workers(100_000)
    with pytest.raises(InputError, match="give one"):
        placement(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InputError, match="do not apply"):
        placement(workers=2, scheduler=None, insecure=True)
    with pytest.raises(InputError, match="without a scheduler"):
        placement(workers=None, scheduler=None, insecure=True)
    assert placement(workers=None, scheduler=None, recipe_scheduler="tcp://127.0.0.1:1").connection.port == 1


# --- real runs ----------------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(edgekit_command(*args), capture_output=True, text=True, env=worker_env(), timeout=timeout)


def models(out: Path) -> dict[str, bytes]:
    report = json.loads((out / "report.json").read_text())
    return {a["name"]: (out / a["path"] / "model.tflite").read_bytes() for a in report["artifacts"]}


def figures(out: Path) -> dict[str, dict]:
    report = json.loads((out / "report.json").read_text())
    return {a["name"]: {k: v for k, v in a.items() if k not in LATENCY and k != "pareto"} for a in report["artifacts"]}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return write_tiny_recipe(tmp_path_factory.mktemp("recipe"))


@pytest.fixture(scope="module")
def sequential(recipe, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sequential") / "out"
    result = run_cli("sweep", str(recipe), *GRID, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dask-logs")
    dask = LocalDask(f"tcp://127.0.0.1:{free_port()}", logs)
    try:
        yield dask.start(workers=2)
    finally:
        dask.stop()


def assert_same_as_sequential(out: Path, sequential: Path) -> None:
    assert models(out) == models(sequential)  # byte for byte, every variant
    assert figures(out) == figures(sequential)
    for name in ("sweep",):
        ours, theirs = (json.loads((o / "report.json").read_text())[name] for o in (out, sequential))
        assert ours["computed"] == theirs["computed"]


def test_a_sweep_on_a_two_worker_cluster_writes_the_sequential_bytes(recipe, sequential, cluster, tmp_path):
    out = tmp_path / "out"
    result = run_cli("sweep", str(recipe), *GRID, "--out", str(out), "--scheduler", cluster.address)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_as_sequential(out, sequential)
    report = json.loads((out / "report.json").read_text())["distributed"]
    assert set(report["worker_peak_rss_mb"]) <= {"w1", "w2"} and all(50 < mb < 4096 for mb in report["worker_peak_rss_mb"].values())
    assert {t["worker"] for t in report["tasks"].values()} <= {"w1", "w2"} and report["tf_threads"] == 1
    assert "MALLOC_TRIM_THRESHOLD_" not in result.stderr  # its workers run with samples/dask/edgekit.yaml
    again = run_cli("sweep", str(recipe), *GRID, "--out", str(out), "--scheduler", cluster.address)
    assert again.returncode == 0 and json.loads((out / "report.json").read_text())["sweep"]["computed"] == []


def _environment_variable(_shared, name: str) -> str | None:
    import os

    return os.environ.get(name)


def test_local_workers_start_without_dasks_malloc_trim_threshold():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers, which made TensorFlow's
    training there 1.5x slower; the workers --workers starts go without it."""
    from edgekit.distributed.cluster import opened
    from edgekit.distributed.executor import Task

    with opened(placement(workers=1, scheduler=None)) as executor:
        (outcome,) = list(executor.run([Task("environment", _environment_variable, "MALLOC_TRIM_THRESHOLD_")], None))
    assert not outcome.worker.startswith("driver") and outcome.result is None and outcome.malloc_trim is None


def _loaded(_shared, names: tuple[str, ...]) -> dict[str, bool]:
    import sys

    return {name: name in sys.modules for name in names}


def test_workers_load_tensorflow_while_the_driver_trains_and_a_failed_warm_up_costs_nothing():
    """The flows warm the workers before their float training: TensorFlow, TF-MOT and the
    named modules are loaded before the first task arrives; a module that cannot load is
    dropped there, and the worker still runs its tasks."""
    from edgekit.distributed.cluster import opened
    from edgekit.distributed.executor import Task

    names = ("tensorflow", "tensorflow_model_optimization", "edgekit.flows.sweep.work")
    with opened(placement(workers=1, scheduler=None)) as executor:
        failed, warmed = executor.warm(["edgekit.no_such_module"]), executor.warm(["edgekit.flows.sweep.work"])
        done = [f.result(timeout=120) for f in failed + warmed]  # as the float training would
        (outcome,) = list(executor.run([Task("loaded", _loaded, names)], None))
    assert done == ["ModuleNotFoundError: No module named 'edgekit.no_such_module'", None]
    assert outcome.result == dict.fromkeys(names, True) and outcome.threads == 1


def test_dasks_info_lines_stay_out_of_the_output_after_absl_configured_logging(capfd):
    """Loading a SavedModel makes absl call logging.basicConfig; Dask's INFO lines (and a
    traceback when the client closed) then reached the terminal of every --workers run."""
    import logging

    from edgekit.distributed.cluster import opened
    from edgekit.distributed.executor import Task

    added = logging.StreamHandler()  # what basicConfig adds (pytest's own handlers make it a no-op here)
    added.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logging.root.addHandler(added)
    try:
        with opened(placement(workers=1, scheduler=None)) as executor:
            list(executor.run([Task("environment", _environment_variable, "HOME")], None))
    finally:
        logging.root.removeHandler(added)
    err = capfd.readouterr().err
    assert "INFO:distributed" not in err and "Traceback" not in err, err[-2000:]


def test_a_worker_with_dasks_malloc_trim_threshold_is_named_once(caplog):
    from edgekit.distributed.executor import Outcome, WorkerStats

    stats = WorkerStats("a cluster", 1)
    for name in ("a", "b"):
        stats.add(Outcome(name, None, "w1", 1.0, 100.0, 1, "65536"))
    stats.add(Outcome("c", None, "w2", 1.0, 100.0, 1, None))
    stats.add(Outcome("d", None, "w3", 1.0, 100.0, 1, "\x1b[2J" + "9" * 10_000))  # a hostile worker's text
    warned = [r.getMessage() for r in caplog.records if "MALLOC_TRIM_THRESHOLD_" in r.getMessage()]
    assert len(warned) == 2 and warned[0].startswith("w1 runs with MALLOC_TRIM_THRESHOLD_='65536'") and "pre-spawn-environ" in warned[0]
    assert "\x1b" not in warned[1] and len(warned[1]) < 400  # escaped and cut to 40 characters


@pytest.mark.slow
def test_workers_2_on_this_machine_writes_the_sequential_bytes(recipe, sequential, tmp_path):
    out = tmp_path / "out"
    result = run_cli("sweep", str(recipe), *GRID, "--out", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "running the tasks on 2 local Dask worker(s)" in result.stderr
    assert_same_as_sequential(out, sequential)


def fit_report(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {
        "winner": report["winner"]["artifact"]["name"],
        "accuracy": report["winner"]["artifact"]["accuracy"],
        "candidates": {c["name"]: c["status"] for c in report["candidates"]},
        "artifacts": {p.name: p.read_bytes() for p in sorted((out / "candidates").glob("*.tflite"))},
    }


@pytest.mark.slow
def test_a_fit_through_the_cluster_picks_the_sequential_winner(cluster, tmp_path):
    from tests.test_fit import fit_recipe

    recipe = fit_recipe(tmp_path)
    budgets = ("--target", "mcu", "--flash-kb", "10", "--ram-kb", "8")
    alone = run_cli("fit", str(recipe), *budgets, "--out", str(tmp_path / "alone"))
    spread = run_cli("fit", str(recipe), *budgets, "--out", str(tmp_path / "spread"), "--scheduler", cluster.address)
    assert alone.returncode == 0 and spread.returncode == 0, spread.stderr[-3000:]
    assert fit_report(tmp_path / "spread") == fit_report(tmp_path / "alone")


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_costs_nothing_finished(recipe, sequential, tmp_path):
    """One of two workers is SIGKILLed (nanny and all) while it runs a task: the scheduler
    moves the task to the other worker and the sweep finishes with every variant, the same bytes."""
    dask = LocalDask(f"tcp://127.0.0.1:{free_port()}", tmp_path).start(workers=2)
    try:
        out = tmp_path / "out"
        argv = edgekit_command("sweep", str(recipe), *GRID, "--out", str(out), "--scheduler", dask.address)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env())
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and process.poll() is None and time.monotonic() < deadline:
            busy = [name for name, keys in dask.running().items() if keys]
            victim = busy[0] if busy else None
            time.sleep(0.2)
        assert victim is not None, "no task ever ran"
        time.sleep(2)  # mid-task: a task takes several seconds
        dask.kill_worker(victim)
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        assert_same_as_sequential(out, sequential)
        tasks = json.loads((out / "report.json").read_text())["distributed"]["tasks"]
        assert {t["worker"] for t in tasks.values()} == {"w1", "w2"} - {victim}  # the lost task ran again there
        assert not list(out.rglob("*.partial*")) and not list(out.rglob(".tmp*"))
    finally:
        dask.stop()


@pytest.mark.slow
def test_a_cluster_that_loses_its_only_worker_names_the_lost_variants(recipe, tmp_path):
    """Nobody left to retry on: exit 1 naming the variants no worker finished, nothing
    half-written, and the same command (with a worker back) finishes the rest."""
    dask = LocalDask(f"tcp://127.0.0.1:{free_port()}", tmp_path).start(workers=1)
    try:
        out = tmp_path / "out"
        argv = edgekit_command("sweep", str(recipe), *GRID, "--out", str(out), "--scheduler", dask.address)
        env = dict(worker_env(), DASK_EDGEKIT__NO_WORKER_TIMEOUT="3")
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 300
        while not any(dask.running().values()) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        dask.kill_worker("w1")
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 1, stderr[-3000:]
        error = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(error) == 1, stderr[-2000:]
        assert "lost on the cluster" in error[0] and "tiny-cpu-s" in error[0]
        assert not list(out.rglob("*.partial*"))
        kept = sorted(p.stem for p in (out / "variants").glob("*.json")) if (out / "variants").is_dir() else []
        dask.add_worker("w2")
        dask.wait_for(1)
        again = subprocess.run(argv, capture_output=True, text=True, env=worker_env(), timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        report = json.loads((out / "report.json").read_text())["sweep"]
        assert sorted(report["reused"]) == kept and len(report["computed"]) + len(kept) == 6  # cpu: 4, edgetpu: 2 (int8 only)
    finally:
        dask.stop()


@pytest.mark.parametrize("argv", [["sweep", "--help"], ["fit", "--help"], ["sweep", "RECIPE", "--workers", "0"], ["sweep", "RECIPE", "--scheduler", "tcp://10.1.2.3:8786"]])
def test_help_and_refusals_import_neither_tensorflow_nor_dask(argv, recipe):
    """Dask loads only when a run uses it; the TLS and worker-count refusals come before."""
    code = (
        "import sys\nfrom edgekit.cli import main\n"
        f"try:\n    main({[str(recipe) if a == 'RECIPE' else a for a in argv]!r})\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('tensorflow', 'dask', 'distributed') if m in sys.modules))\n"
    )
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=worker_env(), timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    "table, wanted",
    [
        ("threads = 0", "distributed.threads = 0 must be 1 to 256"),
        ('scheduler = "8786"', "distributed.scheduler '8786': not a scheduler address"),
        ('tls_ca = "ca.pem"', "needs all of tls_ca, tls_cert and tls_key"),
        ("insecure = true", "unknown key 'insecure' in [distributed]"),  # only the command line may allow it
    ],
)
def test_the_recipes_distributed_table_is_checked(tmp_path, table, wanted):
    from edgekit.errors import RecipeError
    from edgekit.recipe import load_recipe

    path = write_tiny_recipe(tmp_path)
    path.write_text(path.read_text() + f"\n[distributed]\n{table}\n")
    with pytest.raises(RecipeError) as refused:
        load_recipe(path)
    assert wanted in refused.value.message and f"{path}:" in refused.value.message


@pytest.mark.slow
def test_ctrl_c_on_workers_keeps_finished_variants_and_the_same_command_resumes(recipe, sequential, tmp_path):
    from tests.conftest import interrupt_when_written

    out = tmp_path / "out"
    argv = edgekit_command("sweep", str(recipe), *GRID, "--out", str(out), "--workers", "2")
    code, stderr = interrupt_when_written(argv, out / "variants", "*.json", worker_env())
    assert code == 130, stderr[-3000:]
    assert "interrupted:" in stderr and "run the same command to continue" in stderr
    kept = sorted(p.stem for p in (out / "variants").glob("*.json"))
    assert kept and not list(out.rglob("*.partial*"))
    resumed = run_cli("sweep", str(recipe), *GRID, "--out", str(out), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(json.loads((out / "report.json").read_text())["sweep"]["reused"]) == kept
    assert_same_as_sequential_bytes(out, sequential)


def assert_same_as_sequential_bytes(out: Path, sequential: Path) -> None:
    assert models(out) == models(sequential) and figures(out) == figures(sequential)
