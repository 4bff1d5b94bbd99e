"""The documentation: the MkDocs site builds cleanly, and README.md stays a short front door.

The build runs with ``--strict``: a broken link, a missing anchor, a page left out of the nav
or an API name mkdocstrings cannot find is a warning, so a failure here. MkDocs is installed by
``make test`` (the ``docs`` extra); without it the build test fails rather than skips.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 250

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _without_code(markdown: str) -> str:
    """The Markdown with fenced blocks and inline code removed (links in code are not links)."""
    text = _FENCE.sub("", markdown)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def _nav_pages() -> list[str]:
    """The pages named in mkdocs.yml's ``nav`` (read as text: no YAML library needed)."""
    lines = (REPO / "mkdocs.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("nav:")
    block = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace() and not line.startswith("#"):
            break  # the next top-level key
        block.append(line.split("#", 1)[0])
    return re.findall(r"([\w./-]+\.md)\s*$", "\n".join(block), flags=re.M)


def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed (install the docs extra: make test):\n{output}"
    assert "WARNING" not in output, output
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("edgekit.flows.build.build", "edgekit.flows.compress.compress", "edgekit.recipe.load_recipe", "edgekit.errors.BudgetError"):
        assert name in api, f"{name} is missing from the API page"


def test_readme_is_short_and_starts_with_the_quick_start():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; keep it to {MAX_README_LINES} and move detail to docs/"
    first = _FENCE.search(text)
    assert first is not None, "README.md has no fenced code block"
    block = first.group(2)
    assert "make demo" in block and "make test" in block, f"the first code block must hold `make demo` and `make test`:\n{block}"
    assert block.index("make demo") < block.index("make test"), "`make demo` comes before `make test`"


def test_every_page_is_in_the_nav():
    nav = _nav_pages()
    pages = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
    assert pages, "docs/ has no pages"
    assert sorted(set(pages) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(pages)) == [], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page is in the nav twice"


def test_readme_links_point_to_files_that_exist():
    links = _LINK.findall(_without_code(README.read_text(encoding="utf-8")))
    relative = [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link, flags=re.I) and not link.startswith("#")]
    assert relative, "README.md links to no docs page"
    missing = sorted({link for link in relative if not (REPO / link.split("#", 1)[0]).exists()})
    assert missing == [], f"README.md links to files that do not exist: {missing}"
    assert any(link.startswith("docs/") for link in relative)
