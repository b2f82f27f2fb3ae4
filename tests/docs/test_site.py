"""The documentation site builds with `mkdocs build --strict` (broken links and anchors, pages missing from the nav
fail it), into a temporary folder: the working tree is left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tools.mkdocs_hooks import docs_outputs

WATCHED = ("docs/", "tools/", "mkdocs.yml", "README.md")


def snapshot(root: Path) -> dict[str, float]:
    """Every file under the repository but the environments, data and caches, with its modification time."""
    skip = {".git", ".venv", "data", "mlruns", ".cache", ".dvc-storage", "services", "artifacts", "__pycache__"}
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".venv-")]
        for name in filenames:
            path = Path(dirpath, name)
            found[str(path.relative_to(root))] = path.stat().st_mtime
    return found


def build(config: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)]
    return subprocess.run(cmd, cwd=config.parent, capture_output=True, text=True, env=env, timeout=300)


def watched() -> dict[str, float]:
    """The site's sources; the images the pipeline writes into docs/ are left out (a running pipeline may rewrite them)."""
    outputs = {f"docs/{p}" for p in docs_outputs(REPO / "dvc.yaml")}
    return {k: v for k, v in snapshot(REPO).items() if k.startswith(WATCHED) and k not in outputs}


def test_the_site_builds_strictly_outside_the_tree(tmp_path):
    before = watched()
    done = build(REPO / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reports" / "index.html").exists()
    assert watched() == before, "the build changed or added files in the working tree"
    assert not (REPO / "site").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    """Strict means strict: a copy of the site with one link to a page that does not exist does not build."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "docs", copy / "docs")
    shutil.copytree(REPO / "tools", copy / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "dvc.yaml"):
        shutil.copy(REPO / name, copy / name)
    with open(copy / "docs" / "testing.md", "a", encoding="utf-8") as f:
        f.write("\nSee [the missing page](no-such-page.md).\n")
    done = build(copy / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr


def test_no_page_cites_files_outside_the_repository():
    """The documentation stands on its own: no `../shared/...` path, no talk of "the issue"."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text, page
        assert "the issue" not in text.lower(), page
