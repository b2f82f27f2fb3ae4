"""Annotators' extra groups as generator conditions and sliders: a group the tagger has a head for joins the six as
one more condition of DCGAN and the conditional StyleGAN (the annotation, else the trusted auto-tag, else unknown),
its bundle records the schema, it has a slider that the judge scores with its own head, and cond_accuracy covers it;
a group still waiting for labels is left out; the six groups alone train exactly as before; an old bundle loads."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, FIXED, GROUPS, AttributeSchema
from core.params import SliderParams
from dataset.shards import ImageShards, read_manifest
from labeling.configs import tag_groups
from labeling.files import tags_csv
from models.dcgan import family, sliders
from models.dcgan import train as dcgan_train
from models.dcgan.conditions import ConditionPrior, conditions
from models.dcgan.net import Generator
from models.engine import gan
from models.metrics import generators
from models.stylegan import conditional
from models.tagger import extra, roles
from models.tagger.extractor import Tagger, load_judge
from models.tagger.net import TaggerNet, extract_features, predict_proba
from tests.models.engine.test_gan import _config

WARM = ("blonde", "red", "pink")  # the faces a `hat` is said to be on: something the tagger's features can see


@pytest.fixture(scope="module")
def tagged(smoke_ingest, smoke_params, tmp_path_factory):
    """The label and tagger stages' outputs for the smoke set with two extra groups: `hat` labelled on 60 training
    images and every held-out one (a head), `scarf` on 3 (waiting); a tiny cnn and judge CNN of other seeds."""
    root = tmp_path_factory.mktemp("extra")
    declared = {"hat": ["no", "yes"], "scarf": ["no", "yes"]}
    params = smoke_params.model_copy(
        update={
            "tagger": smoke_params.tagger.model_copy(update={"extra_min_labels": 40}),
            "label": smoke_params.label.model_copy(update={"extra_groups": declared}),
        }
    )
    rows = read_manifest(smoke_ingest)
    hat = {r["id"]: ("yes" if r["hair_color"] in WARM else "no") for r in rows}
    labels = {r["id"]: {"source": r["source"], **{g: r[g] for g in GROUPS}} for r in rows}
    train_ids = [r["id"] for r in rows if r["split"] == "train"]
    for r in rows:
        if r["split"] != "train" or r["id"] in train_ids[:60]:
            labels[r["id"]]["hat"] = hat[r["id"]]
    for ref in train_ids[:3]:
        labels[ref]["scarf"] = "yes"
    tags = root / "tags.csv"
    tags.write_text(tags_csv(labels, tag_groups(declared)))
    out = root / "tagger"
    size = params.tagger.size
    x = np.asarray(ImageShards(smoke_ingest, size).images)
    torch.manual_seed(0)
    cnn = TaggerNet(width=4, size=size).eval()
    torch.manual_seed(1)
    judge = TaggerNet(width=4, size=size).eval()
    judge.save(out / "judge")
    roles.write_auto_tags(out / "tags_auto.csv", rows, predict_proba(cnn, x), {}, {}, "anime-tagger/1")
    figures = extra.run(params, cnn, x, rows, extra.read_extra(tags), out, judge)
    paths = {
        "data": smoke_ingest,
        "labels": tags,
        "auto_tags": out / "tags_auto.csv",
        "extra_tags": out / "tags_extra.csv",
        "extra_heads": out / "extra",
        "judge_tagger": out / "judge",
    }
    return {"params": params, "paths": paths, "figures": figures, "cnn": cnn, "x": x, "hat": hat, "labels": labels}


def test_a_group_with_a_head_is_a_condition_and_one_without_is_left_out_saying_so(tagged, capsys):
    assert tagged["figures"]["head_by_group"] == {"hat": True, "scarf": False}
    data, record = family.load_conditioned(tagged["paths"], [32])
    schema = data["schema"]
    assert schema.names == (*GROUPS, "hat") and schema.extra == ("hat",) and schema.groups["hat"] == ("no", "yes")
    assert record["extra_groups"] == ["hat"] and record["extra_groups_waiting"] == ["scarf"]
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "scarf" in line and "left out" in line

    with open(tagged["paths"]["extra_tags"], newline="") as f:
        best = {r["id"]: r for r in csv.DictReader(f)}
    col = schema.names.index("hat")
    seen = set()
    for split in ("train", "val", "test"):
        d = data["images"][32][split]
        assert d.schema == schema and d.labels.shape[1] == len(GROUPS) + 1
        ids = ImageShards(tagged["paths"]["data"], 32, split).ids
        for ref, y in zip(ids, d.labels[:, col]):
            whence = best[ref]["from:hat"]
            seen.add(whence)
            if whence == "annotation":  # the annotators' tag wins
                assert y == ("no", "yes").index(tagged["labels"][ref]["hat"])
            elif whence == "auto":  # else the head's trusted reading
                assert y == ("no", "yes").index(best[ref]["hat"])
            else:  # else unknown: the generator's null entry
                assert y == -1
    assert "annotation" in seen and {"auto", "unknown"} & seen
    # the six groups' columns are the conditions the fixed groups alone give
    d = data["images"][32]["train"]
    ids = ImageShards(tagged["paths"]["data"], 32, "train").ids
    from models.dcgan.conditions import read_auto_tags
    from models.tagger.labels import read_tags

    alone, _ = conditions(ids, read_tags(tagged["paths"]["labels"]), read_auto_tags(tagged["paths"]["auto_tags"]))
    assert np.array_equal(d.labels[:, : len(GROUPS)], alone)


def test_the_judge_reads_the_extra_group_with_a_head_of_its_own(tagged):
    judge = load_judge(tagged["paths"]["judge_tagger"])
    assert judge.schema.extra == ("hat",)
    x = tagged["x"][:50]
    _, reads = judge.read(x)
    assert set(reads) == {*GROUPS, "hat"}
    heads, arrays = extra.load_heads(tagged["paths"]["judge_tagger"])
    want = extra.probabilities(heads, arrays, extract_features(judge.net, x))["hat"].argmax(axis=1)
    assert np.array_equal(reads["hat"], want)
    own, own_arrays = extra.load_heads(tagged["paths"]["extra_heads"].parent)  # the head that made the labels
    assert own["hat"]["values"] == heads["hat"]["values"]
    assert not np.allclose(own_arrays["coef_hat"], arrays["coef_hat"])  # another network's head
    assert tagged["figures"]["judge_macro_f1_by_group"]["hat"] is not None


def test_dcgan_trains_on_the_extra_group_records_the_schema_and_scores_its_slider(tagged, tmp_path):
    data, _ = family.load_conditioned(tagged["paths"], [32])
    schema, d = data["schema"], data["images"][32]
    p = tagged["params"].dcgan
    task = dcgan_train.build(p, 32, d["train"].images, d["train"].labels, 0, schema)
    assert len(task.D.project) == len(GROUPS) + 1 and list(task.D.reader.heads) == list(schema.names)
    result = gan.train(task, _config(steps=2, augment=()))
    G = result.g_ema.eval()
    assert G.schema == schema and len(G.embeds) == len(GROUPS) + 1
    prior = ConditionPrior.fit(d["train"].labels)

    scores = family.slider_scores(SliderParams(val=16, test=16), 0, G, prior, data["judge"])
    assert "hat=yes" in scores["control_success_by_tag"] and scores["extra_groups"] == ["hat"]
    assert 0.0 <= scores["control_success_by_tag"]["hat=yes"] <= 1.0
    assert sliders.ranges(schema)["hat=yes"] == (-1.0, 1.0)  # a yes/no group: two-sided, as glasses

    extractor = Tagger(tagged["cnn"], {}, "1")  # the pinned extractor reads the six groups only
    refs = {
        s: generators.reference(extractor, d[s].images, d[s].labels, d["train"].images, 32, 0, d[s].schema)
        for s in ("val", "test")
    }
    figures = family.score(extractor, refs, family.sampler(G, prior), 0, True, G.schema, data["judge"])
    assert "hat" in figures["cond_accuracy_by_group"] and "hat" in figures["val_cond_accuracy_by_group"]
    assert "hat" in figures["tagger_accuracy_by_group"]
    without = family.score(extractor, refs, family.sampler(G, prior), 0, True, G.schema)
    assert "hat" not in without["cond_accuracy_by_group"]
    assert without["cond_accuracy"] == figures["cond_accuracy"]  # pooled over the six: comparable between runs

    family.save(task, result, prior, tmp_path / "b", "dcgan", {})
    family.save_sliders(tmp_path / "b", scores["control_success_by_tag"], G.schema)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert list(config["groups"]) == [*GROUPS, "hat"] and config["groups"]["hat"] == ["no", "yes"]
    assert "hat=yes" in json.loads((tmp_path / "b" / "sliders.json").read_text())["ranges"]
    again = Generator.load(tmp_path / "b")
    z = torch.randn(2, G.nz)
    cond = sliders.conditions_for(prior, 2, 1, schema)
    with torch.no_grad():
        moved = sliders.soft_condition(cond, {"hat=yes": 1.0}, schema)
        assert again.schema == schema and torch.allclose(again(z, cond, moved), G(z, cond, moved), atol=1e-5)


def test_the_conditional_stylegan_takes_the_extra_group_too(tagged, tmp_path):
    data, _ = family.load_conditioned(tagged["paths"], [32])
    schema, d = data["schema"], data["images"][32]
    sp = tagged["params"].stylegan.model_copy(update={"z_dim": 16, "w_dim": 16, "mapping": 2, "base": 8, "cap": 16})
    task = conditional.build(sp, 32, d["train"].images, d["train"].labels, 0, schema)
    result = gan.train(task, _config(steps=1, augment=()))
    G = result.g_ema.eval()
    assert G.schema == schema and len(G.embeds) == len(GROUPS) + 1
    prior = ConditionPrior.fit(d["train"].labels)
    got = sliders.control_success(G, prior, data["judge"], 8, seed=2)
    assert "hat=yes" in got
    G.save(tmp_path / "s")
    assert conditional.load_generator(tmp_path / "s").schema == schema


def test_a_bundle_without_a_schema_loads_as_the_six_groups_and_one_with_other_fixed_groups_is_refused(tmp_path):
    G = Generator(32, 8, 4, 2).eval()
    G.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["groups"]  # a bundle older than the schema
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    again = Generator.load(tmp_path / "old")
    z = torch.randn(2, 8)
    assert again.schema == FIXED and torch.equal(again(z), G(z))
    config["groups"] = {"hat": ["no", "yes"], **{g: list(ATTRIBUTES[g]) for g in GROUPS}}  # not the six first
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="differ from this code's"):
        Generator.load(tmp_path / "old")
    with pytest.raises(ValueError, match="fixed groups already"):
        AttributeSchema.with_extra({"smile": ["no", "yes"]})


def test_the_six_groups_alone_give_exactly_the_conditions_and_images_they_gave_before(smoke_params):
    """Recorded with the code before extra groups existed: the same conditions, and (up to the CPU's summation order,
    a few units of the uint8 sum) the same samples of a DCGAN with its reader, one with moved pairs and conditional
    batch norm, and a conditional StyleGAN, each trained a few steps from a fixed seed."""
    k = len(GROUPS)
    tags = {
        "a": ("generated", np.array([1] + [-1] * (k - 1))),
        "b": ("label_studio", np.array([-1, 2, 0, -1, 1, -1])),
    }
    auto = {"a": np.full(k, 0), "b": np.array([3, -1, 1, 1, -1, 0]), "c": np.array([-1] * k)}
    y, counts = conditions(["a", "b", "c", "d"], tags, auto)
    assert y.tolist() == [[1, 0, 0, 0, 0, 0], [3, 2, 0, 1, 1, 0], [-1] * 6, [-1] * 6]
    assert counts == {"labels": 4, "auto_tags": 8, "unknown": 12}

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(-1, 2, (40, k))
    prior = ConditionPrior.fit(labels)
    dp = smoke_params.dcgan.model_copy(update={"nz": 8, "ngf": 4, "embed": 2})

    def sample(G) -> tuple[int, list[int]]:
        x = family.sampler(G.eval(), prior)(4, None, 7)
        return int(x.astype(np.int64).sum()), x[0, 0, :4, 0].tolist()

    def near(got, want_sum, want_pixels):
        assert abs(got[0] - want_sum) <= 64 and np.abs(np.subtract(got[1], want_pixels)).max() <= 1, got

    G = gan.train(dcgan_train.build(dp, 32, images, labels, 0), _config(steps=3, augment=())).g_ema
    near(sample(G), 1567511, [128, 126, 129, 130])
    cond = sliders.conditions_for(prior, 2, 3)
    assert cond.tolist() == [[8, 0, 5, 2, 2, 0], [8, 0, 1, 0, 2, 2]]
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = G.eval()(z, cond, sliders.soft_condition(cond, {"smile=yes": 0.5, "hair_color=red": 0.3}))
    assert float(out.sum()) == pytest.approx(3.70501, abs=2e-3)

    paired = dp.model_copy(update={"reader": dp.reader.model_copy(update={"pair_weight": 1.0}), "cond_bn": True})
    G = gan.train(dcgan_train.build(paired, 32, images, labels, 0), _config(steps=3, augment=())).g_ema
    near(sample(G), 1566348, [127, 126, 126, 130])

    sp = smoke_params.stylegan.model_copy(
        update={"z_dim": 16, "w_dim": 16, "mapping": 2, "base": 8, "cap": 16, "embed": 4}
    )
    G = gan.train(conditional.build(sp, 32, images, labels, 0), _config(steps=2, augment=())).g_ema
    near(sample(G), 1889642, [210, 212, 209, 205])
