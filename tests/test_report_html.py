"""report.html in a real browser: headless Chromium loads it offline, the plots decode, the
table has one row per variant. The report here is written by hand (no TensorFlow needed);
tests/test_sweep.py runs the same checks on a real sweep's report.
"""

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from edgekit.report.files import write_report_folder
from edgekit.report.text import read_report
from tests.conftest import edgekit_command

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
)  # fmt: skip
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var probe = document.createElement("pre");
  probe.id = "edgekit-probe";
  probe.textContent = JSON.stringify({
    widths: images.map(function (i) { return i.naturalWidth; }),
    rows: document.querySelectorAll("#variants tbody tr").length
  });
  document.body.appendChild(probe);
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); the browser check needs it")
    return found


def run_chromium(args: list[str]) -> subprocess.CompletedProcess:
    """Chromium with a throw-away profile, no network services, no GPU."""
    with tempfile.TemporaryDirectory(prefix="edgekit-chromium-") as profile:
        command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


def probe_in_browser(report_html: Path, work: Path) -> dict:
    """Load a copy of the page with a script that writes image widths and row counts into the DOM."""
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "probe.html"
    copy.write_text(report_html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = run_chromium(["--virtual-time-budget=10000", "--dump-dom", copy.as_uri()])
    match = re.search(r'<pre id="edgekit-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"no probe in the dumped DOM; chromium said: {result.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def screenshot(report_html: Path, png: Path) -> Path:
    result = run_chromium(["--window-size=1400,2600", f"--screenshot={png}", report_html.as_uri()])
    assert png.is_file() and png.stat().st_size > 10_000, result.stderr[-2000:]
    return png


def assert_offline(page: str) -> None:
    """Nothing on the network: every src is inline data, no http(s) anywhere in the markup."""
    assert not re.search(r"https?://", page)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "@import" not in page


def fake_variant(name, mode, sparsity, accuracy, gzip_bytes, p50):
    return {
        "name": name, "target": "cpu", "quantization": "int8" if mode == "qat" else mode, "path": f"bundles/{name}",
        "accuracy": accuracy, "agreement": 0.99, "bytes": gzip_bytes * 2, "gzip_bytes": gzip_bytes, "sparsity": sparsity,
        "latency_us": {"p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.5, "threads": 1, "runs": 50},
        "target_report": {"target": "cpu", "runnable": True, "notes": [], "details": {"op_count": 8},
                          "ops": [{"op": "CONV_2D", "count": 2, "placement": "xnnpack", "reason": ""},
                                  {"op": "QUANTIZE", "count": 1, "placement": "cpu", "reason": "not taken by XNNPACK <&>"}]},
        "sparsity_target": sparsity, "mode": mode,
    }  # fmt: skip


@pytest.fixture
def handmade(tmp_path):
    """A sweep report.json (4 sparsities x 4 modes) with per-layer sensitivity, in a folder."""
    modes = {"float32": (1.0, 800_000, 30.0), "float16": (1.0, 400_000, 32.0), "dynamic": (0.999, 200_000, 40.0), "int8": (0.997, 70_000, 20.0)}
    artifacts = [
        fake_variant(f"m-cpu-s{s * 100:g}-{mode}", mode, s, round(0.98 * acc - s * 0.01, 5), int(size * (1 - s * 0.8)), p50)
        for s in (0.0, 0.5, 0.8, 0.9)
        for mode, (acc, size, p50) in modes.items()
    ]
    report = {
        "recipe": "m<script>", "float_model": {"accuracy": 0.98, "params": 206_922}, "compression": {},
        "artifacts": artifacts, "timings_s": {"total": 1.0},
        "environment": {"machine": {"cpu": "Test CPU", "cores": 2}, "versions": {"edgekit": "0.1.0"}},
        "sweep": {"sparsities": [0.0, 0.5, 0.8, 0.9], "modes": list(modes), "targets": ["cpu"], "variants": 16, "computed": [], "reused": []},
        "sensitivity": {"metric": "accuracy drop at 90 % sparsity (points)", "layers": {"conv1": 2.5, "conv2": 0.8, "dense1": 0.1}},
    }  # fmt: skip
    (tmp_path / "report.json").write_text(json.dumps(report))
    return tmp_path


def test_report_command_renders_every_file(handmade, cli_env):
    result = subprocess.run(edgekit_command("report", str(handmade)), capture_output=True, text=True, env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "results.csv", "report.html", "plots/accuracy_vs_size.png", "plots/sensitivity.png"):
        assert (handmade / name).is_file(), name
    assert len((handmade / "results.csv").read_text().splitlines()) == 1 + 16
    umask = os.umask(0o022)
    os.umask(umask)
    assert (handmade / "report.html").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    page = (handmade / "report.html").read_text()
    assert_offline(page)
    assert "m&lt;script&gt;" in page and "<script>" not in page
    assert "not taken by XNNPACK &lt;&amp;&gt;" in page and "Test CPU" in page
    report = read_report(handmade)
    assert "pareto" not in report  # report.json is read, never rewritten
    assert "| m-cpu-s90-int8 | cpu | 90 % | int8 |" in (handmade / "report.md").read_text()


def test_pareto_is_marked_in_the_rendered_table(handmade):
    write_report_folder(handmade, read_report(handmade), with_json=False)
    page = (handmade / "report.html").read_text()
    rows = re.findall(r'<tr( class="front")? data-name="([^"]+)">', page)
    front = {name for css, name in rows if css}
    assert len(rows) == 16
    assert "m-cpu-s90-int8" in front and "m-cpu-s50-float32" not in front


def test_report_html_in_headless_chromium(handmade, tmp_path):
    write_report_folder(handmade, read_report(handmade), with_json=False)
    page = handmade / "report.html"
    found = probe_in_browser(page, tmp_path / "browser")
    assert found["rows"] == 16
    assert len(found["widths"]) == 3 and all(width > 0 for width in found["widths"])  # size, latency, sensitivity
    screenshot(page, tmp_path / "report.png")


def test_missing_or_bad_report_is_a_one_line_error(tmp_path, cli_env):
    result = subprocess.run(edgekit_command("report", str(tmp_path)), capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith(f"error: no report.json in {tmp_path}")
    (tmp_path / "report.json").write_text('{"artifacts": 3}')
    result = subprocess.run(edgekit_command("report", str(tmp_path)), capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 2 and "not an edgekit report" in result.stderr


def test_a_build_report_renders_too(handmade):
    """``edgekit report`` on a build folder: no sweep section, no grid fields, Pareto computed on the fly."""
    report = read_report(handmade)
    del report["sweep"], report["sensitivity"]
    for artifact in report["artifacts"]:
        del artifact["sparsity_target"], artifact["mode"]
    report["artifacts"] = report["artifacts"][:2]
    write_report_folder(handmade, report, with_json=False)
    page = (handmade / "report.html").read_text()
    assert page.count("<tr data-name=") + page.count('<tr class="front" data-name=') == 2
    assert "| artifact |" in (handmade / "report.md").read_text()  # the build's own Markdown format
    assert_offline(page)
