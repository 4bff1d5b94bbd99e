"""Nothing from a report, bundle or file reaches HTML, a spreadsheet or a terminal unescaped.

report.html is a Jinja2 template with autoescaping, so a ``<script>`` anywhere in report.json
(even in a field the page formats as a number) is text; results.csv neutralises cells a
spreadsheet would run as formulas; labels with OSC/CR/NUL sequences are shown escaped on the
terminal and raw (JSON-escaped) only in ``--json``.
"""

from __future__ import annotations

import csv
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import edgekit_command

SCRIPT = "<script>alert(1)</script>"
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "ul", "li", "figure", "img", "figcaption",
                "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "b", "pre", "p"}  # fmt: skip
HOSTILE_LABELS = ["7 (0.999)\r\nlooks-like: 7", "\x1b]52;c;cm0gLXJmIH4=\x07clip", "nul\x00byte", "\u202eevil", "plain"]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


@pytest.fixture
def hostile_report(tmp_path):
    artifact = {
        "name": f"=HYPERLINK(\"http://x\"){SCRIPT}", "target": "+cpu", "quantization": "int8", "path": "@SUM(A1)",
        "accuracy": 0.9, "agreement": 0.99, "bytes": 2000, "gzip_bytes": 1500, "sparsity": -0.0, "mode": f"-{SCRIPT}",
        "sparsity_target": 0.0, "latency_us": {"p50": 5.0, "p90": 6.0, "p99": 7.0, "threads": 1, "runs": 5},
        "target_report": {"target": "cpu", "runnable": True, "notes": [f"<img src=x onerror=alert(1)>"], "details": {"k": SCRIPT},
                          "ops": [{"op": SCRIPT, "count": 1, "placement": "<b>cpu</b>", "reason": "\"'&"}]},
    }  # fmt: skip
    report = {
        "recipe": SCRIPT, "float_model": {"accuracy": 0.9, "params": 10}, "compression": {}, "artifacts": [artifact],
        "timings_s": {SCRIPT: 1},
        "environment": {"machine": {"cpu": SCRIPT, "cores": "<i>2</i>"}, "versions": {"edgekit": SCRIPT}},
        "sweep": {"sparsities": [0.0], "modes": [SCRIPT], "targets": [SCRIPT], "variants": SCRIPT, "computed": [SCRIPT], "reused": []},
    }  # fmt: skip
    (tmp_path / "report.json").write_text(json.dumps(report))
    return tmp_path


def test_report_html_escapes_every_field(hostile_report, cli_env):
    result = subprocess.run(edgekit_command("report", str(hostile_report)), capture_output=True, text=True, env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    page = (hostile_report / "report.html").read_text()
    parsed = Tags()
    parsed.feed(page)
    assert parsed.tags <= ALLOWED_TAGS and parsed.handlers == []
    assert "<script" not in page and "<img src=x" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; variants" in page


def test_results_csv_cells_cannot_start_formulas(hostile_report):
    from edgekit.report.files import write_report_folder
    from edgekit.report.text import read_report

    write_report_folder(hostile_report, read_report(hostile_report), with_json=False)
    rows = list(csv.reader((hostile_report / "results.csv").read_text().splitlines()))
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell.startswith("-") and not _number(cell))]
    name, target, _, mode = rows[1][:4]
    assert name.startswith("'=HYPERLINK") and target == "'+cpu" and mode.startswith("'-") and rows[1][-1] == "'@SUM(A1)"
    assert float(rows[1][9]) == 0.0  # numbers stay numbers (-0.0 is not text)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.fixture
def hostile_bundle(tmp_path, tiny_tflite):
    from edgekit.bundle.write import write_bundle
    from edgekit.measure.evaluate import io_description

    inputs, outputs = io_description(tiny_tflite["int8"])
    inputs[0]["normalization"] = {"mean": [0.0], "std": [255.0], "raw_dtype": "uint8"}
    outputs[0]["kind"] = "probabilities"
    labels = HOSTILE_LABELS + [str(i) for i in range(5, 10)]
    folder = tmp_path / "bundle"
    write_bundle(
        folder, model_bytes=tiny_tflite["int8"], labels=labels, name="name\x1b[2J", target="cpu", quantization="int8",
        inputs=inputs, outputs=outputs, versions={}, recorded_recipe=None, metrics={},
    )  # fmt: skip
    np.save(tmp_path / "digit.npy", np.zeros((28, 28, 1), np.uint8))
    return folder, tmp_path / "digit.npy"


def _raw(*args, cli_env) -> subprocess.CompletedProcess:
    return subprocess.run(edgekit_command(*args), capture_output=True, env=cli_env, timeout=120)


def test_labels_reach_the_terminal_escaped_and_json_raw(hostile_bundle, cli_env):
    bundle, digit = hostile_bundle
    shown = _raw("predict", str(bundle), str(digit), "--top-k", "10", cli_env=cli_env)
    assert shown.returncode == 0, shown.stderr
    for stream in (shown.stdout, shown.stderr):
        assert not [byte for byte in stream if byte < 0x20 and byte != 0x0A], stream
    text = shown.stdout.decode()
    assert len(text.strip().splitlines()) == 1 and "\\x1b]52" in text and "\\u202e" in text and "\\r\\n" in text
    as_json = _raw("predict", str(bundle), str(digit), "--top-k", "10", "--json", cli_env=cli_env)
    assert b"\x1b" not in as_json.stdout
    labels = {entry["label"] for entry in json.loads(as_json.stdout)["predictions"][0]["top"]}
    assert set(HOSTILE_LABELS) <= labels  # the raw text, JSON-escaped on the way


def test_error_lines_escape_names(tmp_path, cli_env):
    name = tmp_path / "evil\x1b[31m\rbundle"
    result = _raw("verify", str(name), cli_env=cli_env)
    err = result.stderr.decode()
    assert result.returncode == 2 and "\x1b" not in err and "\r" not in err and "evil\\x1b[31m\\rbundle" in err
    assert len(err.strip().splitlines()) == 1


def test_printable_quotes_like_git():
    from edgekit.terminal import printable, safe_line, safe_text

    assert printable("plain name") == "plain name"
    assert printable('a"b\\c\x07') == '"a\\"b\\\\c\\x07"'
    assert printable("\u202e") == '"\\u202e"' and safe_line("a\nb") == "a\\nb" and safe_text("a\x1b\nb") == "a\\x1b\nb"
