"""docs/layout.md (and the README's layout) name every top-level folder git tracks, and only folders that exist."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

ROW = re.compile(r"^\| `([^`/]+)/` \|", re.M)


def tracked_top_folders() -> set[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode()
    return {path.split("/", 1)[0] for path in out.split("\0") if "/" in path}


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def ignored(name: str) -> bool:
    """Whether git ignores the folder `name` (a folder, or a link to one: git asks no trailing slash of a link)."""
    path = name if (REPO / name).is_symlink() else f"{name}/"
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0


def test_the_layout_page_names_every_tracked_folder():
    page = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    named = set(ROW.findall(section(page, "## Folders in git")))
    missing = tracked_top_folders() - named
    assert not missing, f"docs/layout.md does not list these top-level folders: {sorted(missing)}"


def test_every_folder_the_layout_page_names_exists():
    page = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    in_git = ROW.findall(section(page, "## Folders in git"))
    made = ROW.findall(section(page, "## Folders the tools make"))
    assert in_git and made
    assert [n for n in in_git if not (REPO / n).is_dir()] == []
    assert [n for n in made if not ignored(n)] == [], "folders the tools make must be ignored by git"
    assert set(ROW.findall(page)) == set(in_git) | set(made)


def test_the_readme_layout_names_every_tracked_folder_and_no_other():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = section(readme, "## Layout").split("```")[1]
    named = set(re.findall(r"^(\.?[\w-]+)/ ", block, re.M))
    assert sorted(tracked_top_folders() - named) == [], "the README's layout leaves out a tracked top-level folder"
    assert sorted(n for n in named if not (REPO / n).is_dir()) == [], "the README's layout names a missing folder"
