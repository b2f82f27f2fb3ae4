"""tools/walkthrough.py against the real server on a tiny deploy folder in headless Chromium: every step's
screenshot is written, and nothing is left running."""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_walkthrough_screenshots_every_step(tmp_path):
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's chromium is not installed: .ci/run should have installed it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from tests.serve.tiny import make_deploy
    from tools import walkthrough

    deploy = make_deploy(tmp_path / "deploy", generator="dcgan")
    out = tmp_path / "screens"
    assert walkthrough.main(["--deploy", str(deploy), "--out", str(out)]) == 0
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(walkthrough.STEPS)
    sizes = {Image.open(p).size for p in out.glob("*.png")}
    assert sizes == {walkthrough.VIEWPORT}, sizes
    # the steps change what the page shows: no two screenshots are the same picture
    assert len({(out / f"{s}.png").read_bytes() for s in walkthrough.STEPS}) == len(walkthrough.STEPS)


def test_no_deploy_folder_is_a_clear_exit_2(tmp_path, capsys):
    from tools import walkthrough

    assert walkthrough.main(["--deploy", str(tmp_path), "--out", str(tmp_path / "screens")]) == 2
    assert "no deployed.json" in capsys.readouterr().err
    assert not (tmp_path / "screens").exists()
