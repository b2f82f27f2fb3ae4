"""params.yaml is validated into typed objects; every mistake names the key path, the value and what was expected."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from core.params import ParamsError, load_params, resolve
from tests.conftest import REPO


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repository_params_valid_in_every_profile(raw):
    for profile in ("smoke", "cpu", "gpu"):
        p = resolve(copy.deepcopy(raw), profile=profile)
        assert p.profile == profile
    assert resolve(copy.deepcopy(raw), "smoke").generated.count < resolve(copy.deepcopy(raw), "cpu").generated.count
    assert resolve(copy.deepcopy(raw), "gpu").ingest.sizes == [64, 128, 256]


def test_profile_overrides_only_what_it_names(raw):
    cpu, smoke = resolve(copy.deepcopy(raw), "cpu"), resolve(copy.deepcopy(raw), "smoke")
    assert smoke.generated.nuisance == cpu.generated.nuisance
    assert smoke.ingest.split == cpu.ingest.split


def test_unknown_key_names_its_path(raw):
    bad = copy.deepcopy(raw)
    bad["ingest"]["sizez"] = [32]
    with pytest.raises(ParamsError, match=r"ingest\.sizez: unknown key"):
        resolve(bad)


def test_typo_in_an_inactive_profile_is_caught(raw):
    bad = copy.deepcopy(raw)
    bad["profiles"]["gpu"]["generated"]["cuont"] = 5
    with pytest.raises(ParamsError, match=r"profile gpu.*generated\.cuont: unknown key"):
        resolve(bad, "cpu")


def test_wrong_type_names_value_and_expectation(raw):
    bad = copy.deepcopy(raw)
    bad["generated"]["count"] = "many"
    with pytest.raises(ParamsError, match=r"generated\.count: got 'many', expected: .*integer"):
        resolve(bad)


def test_out_of_range_list_item(raw):
    bad = copy.deepcopy(raw)
    bad["ingest"]["sizes"] = [32, 300]
    with pytest.raises(ParamsError, match=r"ingest\.sizes: .*sizes\[1\] = 300: expected a size from 32 to 256"):
        resolve(bad)


def test_dvc_exp_string_floats_are_cast(raw):
    # `dvc exp run -S pixel_baseline.C=[0.00005]` writes 5e-05, which YAML reads as a string.
    doc = copy.deepcopy(raw)
    doc["pixel_baseline"]["C"] = yaml.safe_load("C: [5e-05]")["C"]
    assert isinstance(doc["pixel_baseline"]["C"][0], str)
    assert resolve(doc).pixel_baseline.C == [pytest.approx(5e-05)]


def test_bad_range_and_split(raw):
    bad = copy.deepcopy(raw)
    bad["generated"]["nuisance"]["scale"] = {"lo": 1.3, "hi": 0.7}
    with pytest.raises(ParamsError, match=r"generated\.nuisance\.scale: .*lo \(1\.3\) must be <= hi"):
        resolve(bad)
    bad = copy.deepcopy(raw)
    bad["ingest"]["split"] = {"val": 0.45, "test": 0.45}
    with pytest.raises(ParamsError, match=r"ingest\.split: .*too little for train"):
        resolve(bad)


def test_unknown_profile_and_source(raw):
    with pytest.raises(ParamsError, match=r"profile: got 'laptop'"):
        resolve(copy.deepcopy(raw), "laptop")
    bad = copy.deepcopy(raw)
    bad["ingest"]["source"] = "ftp://x"
    with pytest.raises(ParamsError, match=r"ingest\.sources\[0\]\.spec: got 'ftp://x'"):
        resolve(bad)


def test_stage_exits_2_with_one_clear_message(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["ingest"]["workers"] = -1
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.params", "--params", str(path), "--out", str(tmp_path / "o")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "ingest.workers: got -1, expected: Input should be greater than or equal to 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_one_source_for_every_value():
    """A value set in params.yaml has no default in core/params.py: a reader never has to ask which one runs."""
    import yaml

    from core import params as P

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.pop("profiles")
    both = []

    def walk(model, doc, path):
        for key, value in doc.items():
            field = model.model_fields[key]
            if not field.is_required():
                both.append(path + key)
            if isinstance(value, dict) and hasattr(field.annotation, "model_fields"):
                walk(field.annotation, value, f"{path}{key}.")

    walk(P.Params, raw, "")
    assert both == [], f"set in params.yaml and defaulted in core/params.py: {both}"


def test_trainers_take_their_params_section():
    """No config dataclass with defaults of its own between params and the trainers."""
    import inspect

    from core.params import PoseParams, TaggerParams
    from models.pose.train import train_posenet
    from models.tagger.train import train_cnn

    assert inspect.signature(train_cnn).parameters["tp"].annotation in (TaggerParams, "TaggerParams")
    assert inspect.signature(train_posenet).parameters["pp"].annotation in (PoseParams, "PoseParams")
