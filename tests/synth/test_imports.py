"""synth/ is the bottom of the domain: it imports core/ and itself only (never dataset/ or anything above it), and
its modules import one another without a circle (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO

ABOVE = ("dataset", "models", "stages", "labeling", "serve", "flows", "tools", "bench", "experiments")


def imports_of(package: str) -> dict[str, set[str]]:
    """Every module of `package` (dotted) -> every module name it imports anywhere in its file."""
    root = REPO / package.replace(".", "/")
    graph = {}
    for f in sorted(root.rglob("*.py")):
        name = f.relative_to(REPO).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles among the graph's own modules (depth-first, each reported once from where it closes)."""
    edges = {m: sorted(d for d in deps if d in graph and d != m) for m, deps in graph.items()}
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = "open"
        stack.append(m)
        for d in edges[m]:
            if state.get(d) == "open":
                found.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return found


def test_synth_imports_nothing_above_it():
    bad = {m: sorted(d for d in deps if d.split(".")[0] in ABOVE) for m, deps in imports_of("synth").items()}
    assert not {m: d for m, d in bad.items() if d}


def test_no_import_circle_in_synth():
    assert not cycles(imports_of("synth"))


def test_the_circle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_face_set_command_line(tmp_path):
    sheet = tmp_path / "sheet.png"
    cmd = [sys.executable, "-m", "synth.faces", "--params", str(REPO / "params.yaml"), "--contact-sheet", str(sheet)]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    old = subprocess.run([sys.executable, "-m", "synth.faces.render"], cwd=REPO, capture_output=True, text=True)
    assert old.returncode == 1 and "python -m synth.faces" in old.stderr
