"""Label Studio's venv is installed from its lock file, and installed again when the lock changes (subprocess is
recorded; tests/labeling/test_labelstudio_server.py checks the real venv against the lock), and once for real by the
main venv's uv, from a wheel made here."""

from __future__ import annotations

import re
from pathlib import Path

from labeling import server


def test_the_lock_pins_every_package_and_the_declared_label_studio():
    pins = [line for line in server.LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", line) for line in pins), pins
    wanted = [line for line in server.REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert wanted == ["label-studio==1.23.2"] and "label-studio==1.23.2" in pins
    names = [line.split("==")[0].lower() for line in pins]
    assert len(names) == len(set(names))  # one version per package


def _record_installs(monkeypatch, venv: Path) -> list[list[str]]:
    """server's subprocess.run recorded, not run: `python -m venv` makes the venv's bin/pip, an install its
    bin/label-studio; returns the list each command is appended to."""
    calls: list[list[str]] = []

    def fake_run(cmd, check):
        calls.append([str(c) for c in cmd])
        if cmd[1:3] == ["-m", "venv"]:
            (venv / "bin").mkdir(parents=True)
            (venv / "bin" / "pip").write_text("")
        else:
            (venv / "bin" / "label-studio").write_text("")

    monkeypatch.setattr(server.subprocess, "run", fake_run)
    return calls


def test_ensure_venv_installs_from_the_lock_once_and_again_when_it_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(server, "UV", tmp_path / "no-uv")  # pip, as with a Python that has no uv beside it
    venv, lock = tmp_path / "venv", tmp_path / "requirements.lock"
    lock.write_text("label-studio==1.23.2\n")
    calls = _record_installs(monkeypatch, venv)
    exe = server.ensure_venv(venv, lock)
    assert exe == venv / "bin" / "label-studio"
    assert [c[1:3] for c in calls] == [["-m", "venv"], ["install", "--disable-pip-version-check"]]
    assert calls[1][-2:] == ["-r", str(lock)]  # the lock, never the bare requirement

    calls.clear()
    server.ensure_venv(venv, lock)
    assert calls == []  # installed from this lock already

    lock.write_text("label-studio==1.23.2\nsome-dependency==2.0\n")
    server.ensure_venv(venv, lock)
    assert len(calls) == 1 and calls[0][-2:] == ["-r", str(lock)]  # the existing venv is brought to the new lock

    (venv / ".installed").unlink()  # a venv made before the lock (no record of what it holds) is brought to it too
    calls.clear()
    server.ensure_venv(venv, lock)
    assert len(calls) == 1


def test_uv_beside_the_python_installs_the_lock(tmp_path, monkeypatch):
    """With the main venv's uv beside the interpreter (make runs it so), uv installs the lock into the venv's Python."""
    uv = tmp_path / "uv"
    uv.write_text("")
    monkeypatch.setattr(server, "UV", uv)
    venv, lock = tmp_path / "venv", tmp_path / "requirements.lock"
    lock.write_text("label-studio==1.23.2\n")
    calls = _record_installs(monkeypatch, venv)
    assert server.ensure_venv(venv, lock) == venv / "bin" / "label-studio"
    assert calls[1][:5] == [str(uv), "pip", "install", "--python", str(venv / "bin" / "python")]
    assert "--compile-bytecode" in calls[1]  # as pip does: no first import compiles the packages again
    assert calls[1][-2:] == ["-r", str(lock)]


def test_two_processes_asking_at_once_install_once(tmp_path):
    """`make test` makes the venv while a test may already ask for it: the second caller waits on the first's lock,
    then finds the venv made. Two real processes, a fake pip that takes a while and counts its installs."""
    import subprocess
    import sys
    import textwrap

    venv, lock, count = tmp_path / "venv", tmp_path / "requirements.lock", tmp_path / "installs"
    lock.write_text("label-studio==1.23.2\n")
    (venv / "bin").mkdir(parents=True)
    pip = venv / "bin" / "pip"
    pip.write_text(f"#!/bin/sh\nsleep 1\necho x >> {count}\n: > {venv / 'bin' / 'label-studio'}\n")
    pip.chmod(0o755)
    code = textwrap.dedent(f"""
        from pathlib import Path
        from labeling import server
        server.UV = Path({str(tmp_path / "no-uv")!r})  # the fake pip below, not the main venv's uv
        print(server.ensure_venv(Path({str(venv)!r}), Path({str(lock)!r})))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=server.REPO, stdout=subprocess.PIPE) for _ in (0, 1)]
    outs = [p.communicate(timeout=60)[0].decode().strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs == [str(venv / "bin" / "label-studio")] * 2
    assert count.read_text().splitlines() == ["x"]  # one install; the other waited and found it done


def _wheel(folder: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (a package with one module, its metadata and RECORD), made here: no index needed."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def test_the_main_venvs_uv_installs_a_real_venv_without_waiting_on_its_own_lock(tmp_path):
    """A real venv and the main venv's real uv, on a lock that names a local wheel: uv locks the venv it installs into
    (`<venv>/.lock`), so ensure_venv's own lock must be another file, or the two wait on each other for ever."""
    import subprocess
    import sys

    uv = Path(sys.executable).parent / "uv"
    assert uv.exists(), "the main venv has uv (requirements.lock pins it)"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    venv, lock = tmp_path / "venv", tmp_path / "requirements.lock"
    lock.write_text(f"--no-index\n--find-links {wheels}\ntinypkg==1.0\n")
    code = f"from pathlib import Path\nfrom labeling import server\nserver.ensure_venv(Path({str(venv)!r}), Path({str(lock)!r}))\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=server.REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert list(venv.glob("lib/python3*/site-packages/tinypkg/__pycache__/__init__.*.pyc"))  # compiled at install
    got = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinypkg; print(tinypkg.VALUE)"],
                         capture_output=True, text=True)  # fmt: skip
    assert got.stdout.strip() == "1", got.stderr
    from core.hashing import file_digest

    assert (venv / ".installed").read_text().strip() == file_digest(lock)
