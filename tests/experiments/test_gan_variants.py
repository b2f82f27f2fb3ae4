"""The DCGAN settings study's own logic: experiments/gan_variants.py's overrides and its misses by requested value."""

from __future__ import annotations

import numpy as np
import yaml

from core.names import ATTRIBUTES, GROUPS
from core.params import DcganParams, load_params
from experiments.gan_variants import by_value, merged
from models.metrics.generators import Reference
from tests.conftest import REPO


def test_a_variant_overrides_nested_sections_key_by_key():
    base = {"steps": 10, "reader": {"width": 16, "lr": 0.001, "flip": True}}
    assert merged(base, {"reader": {"width": 8}, "steps": 5}) == {
        "steps": 5,
        "reader": {"width": 8, "lr": 0.001, "flip": True},
    }
    assert base["reader"]["width"] == 16  # the base is not changed


def test_every_committed_variant_is_a_valid_dcgan_section():
    base = load_params(REPO / "params.yaml", "cpu").dcgan.model_dump()
    spec = yaml.safe_load((REPO / "experiments" / "gan_variants.yaml").read_text())
    for name, overrides in spec["variants"].items():
        p = DcganParams.model_validate(merged(base, overrides or {}))
        for key, value in (overrides or {}).get("reader", {}).items():
            assert getattr(p.reader, key) == value, name
        if name != "default":  # a variant keeps its meaning when params.yaml's reader changes
            assert "width" in (overrides or {}).get("reader", {}), name


def test_the_variant_bench_says_which_requested_value_the_misses_fall_on():
    """glasses=no asked 3 times and read as asked once, glasses=yes asked once and read; the real images' reads beside"""
    k = GROUPS.index("glasses")
    labels = np.zeros((4, len(GROUPS)), np.int64)
    labels[:, k] = [0, 0, 0, 1]  # ATTRIBUTES["glasses"] = (no, yes)
    labels[3, 0] = -1  # not asked: counted under no value
    real_reads = {g: labels[:, i].copy() for i, g in enumerate(GROUPS)}
    real_reads["glasses"] = np.array([0, 0, 1, 1])
    ref = Reference(np.zeros((4, 8, 8, 3), np.uint8), labels, np.zeros((4, 2)), real_reads, np.zeros((4, 2)))

    class Extractor:
        def read(self, images):
            reads = {g: labels[:, i].copy() for i, g in enumerate(GROUPS)}
            reads["glasses"] = np.array([1, 0, 1, 1])
            return np.zeros((len(images), 2)), reads

    asked = []

    def sample(n, cond, seed):
        asked.append((n, cond, seed))
        return np.zeros((n, 8, 8, 3), np.uint8)

    out = by_value(Extractor(), ref, sample, 7)
    assert asked[0][0] == 4 and asked[0][1] is labels and asked[0][2] == 7
    no, yes = (ATTRIBUTES["glasses"].index(v) for v in ("no", "yes"))
    assert (no, yes) == (0, 1)
    assert out["glasses"]["no"] == {"n": 3, "generated": round(1 / 3, 3), "real": round(2 / 3, 3)}
    assert out["glasses"]["yes"] == {"n": 1, "generated": 1.0, "real": 1.0}
    assert sum(v["n"] for v in out[GROUPS[0]].values()) == 3  # the unknown row is not a request
