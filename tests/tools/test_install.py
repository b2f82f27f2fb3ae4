"""tools/install.py: the one uv pin it hands to pip first, with its hashes, and a clear stop where the lock has none;
what it warms (the modules the code imports, bytecode written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tools import install


def test_the_uv_pin_is_its_line_and_its_hash_lines_alone():
    block = install.pinned(REPO / "requirements.lock", "uv").splitlines()
    assert block[0].startswith("uv==") and block[0].endswith("\\")
    assert len(block) > 1 and all(line.strip().startswith("--hash=sha256:") for line in block[1:])


def test_a_lock_without_the_package_stops_with_its_name(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("uvicorn==0.30.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")  # a name that starts with uv
    with pytest.raises(SystemExit, match="pins no uv"):
        install.pinned(lock, "uv")


def test_imported_names_what_the_code_imports_from_installed_packages_alone(tmp_path):
    names = install.imported(REPO)
    assert {"torch", "mlflow", "sklearn.neighbors", "torch._dynamo", "dvc.cli"} <= set(names)  # lazy ones and extras
    assert not {"os", "json", "core", "models", "stages", "tests"} & {n.split(".")[0] for n in names}
    # a tree that is no git checkout: every Python file under it; imports inside functions count, relative ones not
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("import os\nfrom . import b\ndef f():\n    import yaml.loader\n")
    (tmp_path / "pkg" / "b.py").write_text("from pkg import a\nfrom numpy import array\n")
    (tmp_path / "broken.py").write_text("def (:\n")  # not Python: skipped
    assert install.imported(tmp_path) == sorted({"yaml.loader", "numpy", *install.WARM_EXTRA})


def test_warm_writes_bytecode_whatever_the_shell_says_and_skips_what_is_missing(tmp_path, monkeypatch):
    import sys

    (tmp_path / "warmed").mkdir()
    (tmp_path / "warmed" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "torch_like.py").write_text("VALUE = 2\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    exe = Path(sys.executable)  # named from its venv, as make names .venv/bin/python
    monkeypatch.chdir(exe.parent.parent)
    install.warm(Path(exe.parent.name) / exe.name, ["warmed", "no_such_module_here", "torch_like"])
    tag = sys.implementation.cache_tag
    assert (tmp_path / "warmed" / "__pycache__" / f"__init__.{tag}.pyc").exists()
    assert (tmp_path / "__pycache__" / f"torch_like.{tag}.pyc").exists()
