"""Label Studio: the labeling configs (validated with the SDK's label interface) and the local server's set-up."""

from __future__ import annotations

import os
import stat

import pytest
from label_studio_sdk.label_interface import LabelInterface

from core.names import ATTRIBUTES
from labeling import configs, server
from synth.pose.skeleton import JOINTS


def _keypoint(label: str, x: float = 10.0, y: float = 20.0) -> dict:
    return {
        "from_name": configs.POSE_CONTROL,
        "to_name": configs.POSE_IMAGE,
        "type": "keypointlabels",
        "original_width": 64,
        "original_height": 64,
        "value": {"x": x, "y": y, "width": 0.75, "keypointlabels": [label]},
    }


def test_committed_configs_are_the_generated_ones():
    assert configs.POSE_XML.read_text() == configs.pose_config()
    assert configs.TAGS_XML.read_text() == configs.tags_config()  # params.yaml has no extra groups


def test_pose_config_has_the_11_joints_in_order_with_hotkeys():
    li = LabelInterface(configs.pose_config())
    control = li.get_control(configs.POSE_CONTROL)
    assert control.tag == "KeyPointLabels" and control.labels == list(JOINTS)
    assert all(control.labels_attrs[j].attr["maxUsages"] == "1" for j in JOINTS)  # each joint placed once
    hotkeys = [control.labels_attrs[j].attr["hotkey"] for j in JOINTS]
    assert len(set(hotkeys)) == 11 and not {"v", "p"} & set(hotkeys)  # v and p are Label Studio's tool keys
    assert li.validate_prediction({"result": [_keypoint(j) for j in JOINTS]})
    assert not li.validate_prediction({"result": [_keypoint("left_elbow")]})


def test_pose_config_asks_each_points_visibility_and_which_joints_are_out_of_frame():
    li = LabelInterface(configs.pose_config())
    seen = li.get_control(configs.VISIBILITY_CONTROL)
    assert seen.tag == "Choices" and seen.labels == ["visible", "occluded"]
    assert seen.attr["perRegion"] == "true" and seen.attr["choice"] == "single" and "required" not in seen.attr
    outside = li.get_control(configs.OUT_OF_FRAME_CONTROL)
    assert outside.tag == "Choices" and outside.labels == list(JOINTS) and outside.attr["choice"] == "multiple"
    joints = li.get_control(configs.POSE_CONTROL)
    keys = [joints.labels_attrs[j].attr.get("hotkey") for j in JOINTS]
    keys += [seen.labels_attrs[v].attr.get("hotkey") for v in seen.labels]
    keys += [outside.labels_attrs[j].attr.get("hotkey") for j in JOINTS]
    assert None not in keys  # every value its own key: Label Studio would give one without a key one of its own
    assert len(set(keys)) == len(keys) == 24  # none shared
    assert not set("hoemkwprvbuz") & set(keys)  # Label Studio's own single keys (tools, regions)
    occluded = {**_keypoint("head"), "from_name": configs.VISIBILITY_CONTROL, "type": "choices"}
    occluded["value"] = {"x": 10.0, "y": 20.0, "width": 0.75, "choices": ["occluded"]}
    ticked = {"from_name": configs.OUT_OF_FRAME_CONTROL, "to_name": configs.POSE_IMAGE, "type": "choices"}
    assert li.validate_prediction({"result": [_keypoint("head"), occluded, {**ticked, "value": {"choices": ["neck"]}}]})
    assert not li.validate_prediction({"result": [{**occluded, "value": {**occluded["value"], "choices": ["gone"]}}]})


def test_tags_config_has_one_single_choice_per_group_and_extends():
    li = LabelInterface(configs.tags_config())
    controls = {c.name: c for c in li.controls}
    assert list(controls) == [*ATTRIBUTES, configs.UNSURE]  # the groups, then the unsure box
    assert controls[configs.UNSURE].labels == [configs.UNSURE] and "required" not in controls[configs.UNSURE].attr
    keys = [controls[g].labels_attrs[v].attr.get("hotkey") for g in controls for v in controls[g].labels]
    assert None not in keys and len(set(keys)) == len(keys)  # every choice its own key
    assert not set("vbekropuhz") & set(keys)  # Label Studio's own keys
    for g, values in ATTRIBUTES.items():
        assert controls[g].tag == "Choices" and controls[g].labels == list(values)
        assert controls[g].attr["choice"] == "single"
    ok = {"from_name": "smile", "to_name": "image", "type": "choices", "value": {"choices": ["yes"]}}
    assert li.validate_prediction({"result": [ok]})
    bad = {**ok, "value": {"choices": ["grin"]}}
    assert not li.validate_prediction({"result": [bad]})
    extended = LabelInterface(configs.tags_config({"hat": ["no", "yes"]}))
    assert [c.name for c in extended.controls][-2:] == ["hat", configs.UNSURE]
    many = configs.tags_config({f"g{i}": ["a", "b", "c"] for i in range(8)})  # more choices than keys: the rest none
    assert many.count("hotkey=") == len(configs.TAG_HOTKEYS) + 1
    with pytest.raises(ValueError, match="already an attribute group"):
        configs.tags_config({"smile": ["a", "b"]})


def test_label_params_checked():
    from pydantic import ValidationError

    from core.params import LabelParams

    counts = {
        "pose_tasks": 1,
        "tag_tasks": 1,
        "joint_tolerance": 0.05,
        "max_annotations": 3,
        "order": "random",
        "pose_source": "",
    }
    assert LabelParams(extra_groups={"hat": ["no", "yes"]}, **counts).extra_groups == {"hat": ["no", "yes"]}
    for bad in ({"smile": ["no", "yes"]}, {"hat": ["yes"]}, {"my hat": ["a", "b"]}):
        with pytest.raises(ValidationError, match="extra_groups"):
            LabelParams(extra_groups=bad, **counts)


def test_credentials_are_generated_once_private_and_masked(tmp_path, monkeypatch):
    for k in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    env = tmp_path / ".labelstudio.env"
    a = server.credentials(env)
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600
    b = server.credentials(env)
    assert a == b and len(a.token) == 40 and len(a.password) >= 20
    assert a.token not in a.masked_token() and a.token[:4] in a.masked_token()
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "f" * 40)
    assert server.credentials(env).token == "f" * 40  # the environment wins
    senv = server.server_env(a, tmp_path / "d", tmp_path)
    assert senv["LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path) and senv["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    monkeypatch.setenv("PORT", "1")
    assert "PORT" not in server.server_env(a, tmp_path / "d", tmp_path)


def _fake_label_studio(path, fail: bool):
    """A `label-studio` stand-in that records its command line and environment; it fails half-way when asked."""
    path.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$0" "$@" > "$LABEL_STUDIO_BASE_DATA_DIR/../argv.txt"\n'
        'env > "$LABEL_STUDIO_BASE_DATA_DIR/../env.txt"\n'
        'echo half > "$LABEL_STUDIO_BASE_DATA_DIR/label_studio.sqlite3.partial"\n'
        + ("exit 3\n" if fail else 'mv "$LABEL_STUDIO_BASE_DATA_DIR/label_studio.sqlite3.partial" '
           '"$LABEL_STUDIO_BASE_DATA_DIR/label_studio.sqlite3"\n')
    )  # fmt: skip
    path.chmod(0o755)
    return path


def test_first_start_keeps_secrets_off_the_command_line_and_redoes_an_interrupted_one(tmp_path):
    from labeling import server

    creds = server.Credentials("admin@example.com", "pw-" + "s" * 20, "t" * 40)
    data = tmp_path / "services" / "labelstudio"
    with pytest.raises(RuntimeError, match="init failed"):
        server.init_data_dir(_fake_label_studio(tmp_path / "ls-bad", fail=True), creds, data, tmp_path / "docs")
    assert not data.exists()  # nothing half-migrated where the next start looks
    server.init_data_dir(_fake_label_studio(tmp_path / "ls-good", fail=False), creds, data, tmp_path / "docs")
    assert (data / "label_studio.sqlite3").is_file() and not (tmp_path / "services" / "labelstudio.init").exists()
    argv = (tmp_path / "services" / "argv.txt").read_text()
    assert creds.password not in argv and creds.token not in argv and "init" in argv
    env = (tmp_path / "services" / "env.txt").read_text()  # the environment carries them (readable by the user only)
    assert f"LABEL_STUDIO_PASSWORD={creds.password}" in env and f"LABEL_STUDIO_USER_TOKEN={creds.token}" in env
