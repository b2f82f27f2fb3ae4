"""tools/profile_test.py's reading of a py-spy raw record: seconds per command (paths dropped), processes, the
seconds under an import, and which package's own import code ran."""

from __future__ import annotations

from tools import profile_test as bench

PYTEST = 'process 10:"/x/.venv/bin/python -m pytest -n 0 tests/a.py"'
STAGE = 'process 11:"/bin/sh -c python -m stages.ruler";process 12:"python -m stages.ruler"'
IMPORT = "_find_and_load (<frozen importlib._bootstrap>:1176);<module> (torch/__init__.py:10)"
RAW = [
    f"{PYTEST};main (pytest/__main__.py:5) 30\n",
    f"{STAGE};<module> (stages/ruler.py:20);{IMPORT} 40\n",
    f"{STAGE};<module> (stages/ruler.py:20);{IMPORT};_find_and_load (x:1);<module> (torch/nn/x.py:3);"
    "_find_and_load (x:1);<module> (scipy/linalg/y.py:7) 10\n",
    f"{STAGE};main (stages/ruler.py:50);fit (models/engine/loop.py:90) 20\n",
    'process 13:"/usr/bin/python3 -c from multiprocessing.forkserver import main; main(1)";'
    "wait (multiprocessing/connection.py:1) 5\n",
]


def test_seconds_by_command_with_the_share_spent_importing():
    got = bench.read(RAW)
    assert got["sampled_seconds"] == 10.5 and got["import_seconds"] == 5.0 and got["processes"] == 3
    assert got["by_command"]["python -m stages.ruler"] == {"seconds": 7.0, "processes": 1, "import_seconds": 5.0}
    assert got["by_command"]["python -m pytest -n 0"]["import_seconds"] == 0.0
    assert got["by_command"]["python3 -c from multiprocessing.forkserver import"]["seconds"] == 0.5


def test_import_time_goes_to_the_package_whose_module_is_running():
    assert bench.read(RAW)["import_seconds_by_package"] == {"torch": 4.0, "scipy": 1.0}
    assert bench.package("<frozen importlib._bootstrap>") == "<frozen>"
    assert bench.package("/x/site-packages/mlflow/store/a.py") == "mlflow"
    assert bench.command("/a/b/python -m stages.train --family dcgan --x") == "python -m stages.train --family dcgan"
