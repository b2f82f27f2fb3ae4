"""Stage `train` (stages/train.py): bad input is exit 2 with one clear line, before anything trains."""

from __future__ import annotations

from tests.conftest import REPO, run


def test_missing_inputs_are_exit_2(tmp_path, smoke_ingest):
    common = ["python", "-m", "stages.train", "--family", "dcgan", "--params", str(REPO / "params.yaml")]
    outs = ["--out", str(tmp_path / "out"), "--metrics", str(tmp_path / "m.json")]
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    no_labels = run(
        [*common, "--data", str(smoke_ingest), "--labels", str(tmp_path / "tags.csv"), *outs], REPO, False, env
    )
    assert no_labels.returncode == 2 and "tags.csv" in no_labels.stderr and "Traceback" not in no_labels.stderr
    unknown = run([*common, "--family", "stylegan3"], REPO, check=False)
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    sr = [*common[:4], "sr", *common[5:], "--data", str(smoke_ingest), "--judge-tagger", str(tmp_path / "judge")]
    no_judge = run([*sr, *outs], REPO, False, env)
    assert no_judge.returncode == 2 and "judge" in no_judge.stderr and "Traceback" not in no_judge.stderr
    p2s = [*common[:4], "pose2sketch", *common[5:], "--render", str(tmp_path / "render")]
    no_render = run([*p2s, *outs], REPO, False, env)
    assert no_render.returncode == 2 and "render" in no_render.stderr and "Traceback" not in no_render.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.json").exists()
