"""The tagger: metrics, thresholds, the baseline's pickle-free bundle, resumable training, FD/KID, and the stage on
the smoke set against a real local MLflow store (versions, roles, aliases, the pinned extractor, tags_auto.csv)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import tracking
from core.errors import BadInput
from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from models.metrics.fd import frechet_distance
from models.metrics.kid import kernel_distance
from models.tagger import evaluate, extractor
from models.tagger.net import predict_proba
from models.tagger.train import class_weights, train_cnn
from tests.conftest import REPO


def _toy_labels(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, len(ATTRIBUTES[g]), n) for g in GROUPS], axis=1)


def _perfect_probs(y: np.ndarray) -> dict[str, np.ndarray]:
    return {g: np.eye(len(ATTRIBUTES[g]), dtype=np.float32)[y[:, k]] for k, g in enumerate(GROUPS)}


def test_report_thresholds_and_balance():
    y = _toy_labels(200)
    probs = _perfect_probs(y)
    thresholds = evaluate.calibrate(probs, y)
    rep = evaluate.report(probs, y, thresholds)
    assert rep["macro_f1"] == 1.0 and all(m["ap"] == 1.0 for m in rep["tags"].values())
    # a shifted yes/no score: the calibrated threshold recovers it, 0.5 does not
    k = GROUPS.index("smile")
    p_yes = np.where(y[:, k] == 1, 0.3, 0.1)
    probs["smile"] = np.stack([1 - p_yes, p_yes], axis=1)
    t = evaluate.calibrate(probs, y)
    assert 0.1 < t["smile=yes"] <= 0.3
    assert evaluate.report(probs, y, t)["macro_f1_by_group"]["smile"] == 1.0
    assert evaluate.report(probs, y, {**t, "smile=yes": 0.5})["macro_f1_by_group"]["smile"] < 0.5
    y[:10, 0] = -1
    bal = evaluate.balance({"train": y})
    assert bal["splits"]["train"]["hair_color"]["unlabelled"] == 10
    assert sum(v for c, v in bal["splits"]["train"]["glasses"].items() if c != "unlabelled") == 200


def test_auto_tag_floors_keep_the_accuracy_asked_on_validation():
    """The floor is the lowest confidence from which validation's predictions are right `min_accuracy` of the time:
    the surest right answers are kept, the unsure wrong ones fall below it; a group no confidence makes right
    enough, or with no labels at all, trusts no auto-tag."""
    n = 10
    probs = {g: np.full((n, len(ATTRIBUTES[g])), 1.0 / len(ATTRIBUTES[g])) for g in GROUPS}
    y = np.full((n, len(GROUPS)), -1, np.int64)
    k = GROUPS.index("hair_color")
    # confidence 0.95 .. 0.50 in steps of 0.05; the two least sure are wrong (truth 1, predicted 0)
    conf = np.linspace(0.95, 0.5, n)
    probs["hair_color"] = np.zeros((n, len(ATTRIBUTES["hair_color"])))
    probs["hair_color"][:, 0] = conf
    probs["hair_color"][:, 1] = 1 - conf
    y[:, k] = [0] * 8 + [1, 1]
    s = GROUPS.index("smile")  # yes/no: every prediction wrong
    probs["smile"] = np.tile([0.2, 0.8], (n, 1))
    y[:, s] = 0
    floors = evaluate.auto_floors(probs, y, {"smile=yes": 0.5}, min_accuracy=0.9)
    hair = floors["hair_color"]
    assert hair["floor"] == pytest.approx(conf[7])  # the surest 8 are right; with the ninth, 8 of 9 = 0.889 < 0.9
    assert hair["val_accuracy"] == 1.0 and hair["val_coverage"] == pytest.approx(0.8) and hair["labelled"] == 10
    assert floors["smile"]["floor"] is None and floors["smile"]["val_coverage"] == 0.0
    assert floors["glasses"] == {"floor": None, "val_accuracy": None, "val_coverage": 0.0, "labelled": 0}
    pred = evaluate.predict_groups(probs, {"smile=yes": 0.5})
    trusted = evaluate.trusted(evaluate.confidence(probs, pred), floors)
    assert trusted[:, k].tolist() == [True] * 8 + [False] * 2 and not trusted[:, s].any()


def test_each_source_gets_its_own_floor_once_it_has_enough_labels(tmp_path):
    """A source whose confidence means less (another drawing style: sure and often wrong) gets the floor its own
    labelled validation images call for once it has `auto_min_labels` of them; with fewer it borrows the overall
    floor, and the figures say how many labels it still needs. floors.json and tags_auto.csv say the same."""
    from models.tagger import trust

    params = load_params(REPO / "params.yaml", "smoke")
    params = params.model_copy(update={"tagger": params.tagger.model_copy(update={"auto_min_labels": 20})})
    k, n = GROUPS.index("glasses"), 40
    rows, conf, right = [], [], []
    for s, wrong_at in (("generated", ()), ("dir:ink", range(0, 40, 4)), ("dir:few", range(0, 10, 4))):
        count = n if s != "dir:few" else 10
        for i in range(count):
            rows.append({"id": f"{s}{i}", "path": f"{i}.png", "split": "val", "source": s})
            conf.append(0.99 - i * 0.01)  # every source's readings are sure, ordered from the surest
            right.append(i not in wrong_at)  # dir:ink: 1 in 4 wrong, among its surest too
    rows.append({"id": "t", "path": "t.png", "split": "train", "source": "dir:ink"})  # not validation: no say
    conf.append(0.999)
    right.append(False)
    c = np.tile(np.array(conf)[:, None], (1, len(GROUPS)))
    pred = np.zeros((len(rows), len(GROUPS)), np.int64)
    y = np.full_like(pred, -1)
    y[:, k] = np.where(right, 0, 1)
    overall = {g: evaluate.floor_entry(np.zeros(0), np.zeros(0, bool), 0.9) for g in GROUPS}
    overall["glasses"] = evaluate.floor_entry(np.array(conf[:n]), np.ones(n, bool), 0.9)  # the tagged style's
    by_source = trust.floors_by_source(rows, c, pred, y, overall, params)
    assert list(by_source) == ["generated", "dir:ink", "dir:few"]
    own, ink, few = (by_source[s]["glasses"] for s in by_source)
    assert own["from"] == "own" and own["floor"] == pytest.approx(conf[n - 1]) and own["labels_needed"] == 0
    # dir:ink: 3 of its 4 surest right is under 0.9 at every depth but the first reading is wrong: no floor at all
    assert ink["from"] == "own" and ink["labelled"] == 40 and ink["floor"] is None
    assert few["from"] == "overall" and few["floor"] == overall["glasses"]["floor"] and few["labels_needed"] == 10
    assert by_source["generated"]["smile"] == {
        **overall["smile"],
        "labelled": 0,
        "from": "overall",
        "labels_needed": 20,
    }
    mask = trust.trusted(rows, c, by_source)
    src = np.array([r["source"] for r in rows])
    assert mask[src == "generated", k].all() and not mask[src == "dir:ink", k].any()
    assert mask[src == "dir:few", k].all()  # borrowed: the overall floor trusts them all
    figures = trust.figures(by_source, mask, rows)
    assert figures["own_floors_by_source"] == {"generated": 1, "dir:ink": 1, "dir:few": 0}
    assert figures["val_labels_needed_by_source"] == {"generated": 20, "dir:ink": 20, "dir:few": 20}

    probs = {g: np.zeros((len(rows), len(ATTRIBUTES[g]))) for g in GROUPS}
    for g in GROUPS:
        probs[g][:, 0] = conf
        probs[g][:, 1] = 1 - np.array(conf)
    thresholds = {f"{g}={v}": 0.5 for g in GROUPS for v in ATTRIBUTES[g] if ATTRIBUTES[g] == ("no", "yes")}
    pred, written, _ = trust.auto_tag(params, rows, probs, thresholds, y, overall, tmp_path, "anime-tagger/1")
    doc = json.loads((tmp_path / "floors.json").read_text())
    assert doc["min_labels"] == 20 and doc["by_source"]["dir:ink"]["glasses"]["floor"] is None
    with open(tmp_path / "tags_auto.csv", newline="") as f:
        auto = list(csv.DictReader(f))
    assert [r["source"] for r in auto] == src.tolist()
    assert [r["trusted:glasses"] == "1" for r in auto] == written[:, k].tolist()
    assert not any(r["trusted:glasses"] == "1" for r in auto if r["source"] == "dir:ink")


def test_best_tags_name_each_image_and_group_once_with_where_it_came_from():
    from models.tagger.family import best_tags

    k = len(GROUPS)
    rows = [
        {"id": "a", "source": "dir:x", **dict.fromkeys(GROUPS, ""), "hair_color": "red"},  # annotators changed it
        {"id": "b", "source": "dir:x", **dict.fromkeys(GROUPS, ""), "smile": "yes"},  # the source's, unannotated
        {"id": "c", "source": "dir:crypko", **dict.fromkeys(GROUPS, "")},  # untagged: auto or unknown
    ]
    a = np.full(k, -1)
    a[GROUPS.index("hair_color")] = ATTRIBUTES["hair_color"].index("blonde")
    a[GROUPS.index("glasses")] = 1  # added by the annotators
    a[GROUPS.index("smile")] = 0  # added by the annotators
    b = np.full(k, -1)
    b[GROUPS.index("smile")] = 1
    tags = {"a": ("label_studio", a), "b": ("source", b)}
    pred = np.zeros((3, k), np.int64)
    trusted = np.zeros((3, k), bool)
    trusted[2, :2] = True  # hair_color and hair_length of "c"
    text, counts = best_tags(rows, tags, pred, trusted)
    assert counts == {"annotation": 3, "source": 1, "auto": 2, "unknown": 3 * k - 6}
    table = {r["id"]: r for r in csv.DictReader(text.splitlines())}
    assert (table["a"]["hair_color"], table["a"]["from:hair_color"]) == ("blonde", "annotation")
    assert (table["b"]["smile"], table["b"]["from:smile"]) == ("yes", "source")
    assert (table["c"]["hair_color"], table["c"]["from:hair_color"]) == (ATTRIBUTES["hair_color"][0], "auto")
    assert (table["c"]["smile"], table["c"]["from:smile"]) == ("", "unknown") and table["c"]["source"] == "dir:crypko"
    _, manifest_only = best_tags(rows, None, pred, trusted)
    assert manifest_only == {"annotation": 0, "source": 2, "auto": 2, "unknown": 3 * k - 4}


def test_class_weights_favour_rare_tags():
    y = _toy_labels(100)
    k = GROUPS.index("glasses")
    y[:, k] = 0
    y[:10, k] = 1  # glasses rare
    w = class_weights(y)["glasses"]
    assert float(w[1]) > 2 * float(w[0])


def test_baseline_bundle_is_arrays_and_json(tmp_path):
    from models.tagger import baseline as tagger_baseline

    rng = np.random.default_rng(0)
    x = (rng.random((60, 64, 64, 3)) * 255).astype(np.uint8)
    y = _toy_labels(60)
    f = tagger_baseline.features(x)
    model = tagger_baseline.fit(f[:40], y[:40], f[40:], y[40:], [0.1], 50, 0)
    model.save(tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["arrays.npz", "config.json"]
    again = tagger_baseline.LinearTagger.load(tmp_path / "b")  # np.load with allow_pickle=False inside
    for g in GROUPS:
        assert np.allclose(again.probabilities(x)[g], model.probabilities(x)[g])
        assert np.allclose(model.probabilities(x)[g].sum(axis=1), 1.0, atol=1e-5)


def test_training_resumes_from_its_checkpoint(smoke_params, tmp_path, monkeypatch):
    from core import checkpoint

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    x = (rng.random((40, 32, 32, 3)) * 255).astype(np.uint8)
    y = _toy_labels(40)
    cfg = smoke_params.tagger.model_copy(update={"size": 32, "width": 4, "epochs": 3, "batch": 16})
    whole = train_cnn(x, y, cfg, seed=5)
    # a run that dies in epoch 2 (after epoch 1's checkpoint, before epoch 2's) leaves its checkpoint; the next run
    # goes on from there

    def die_in_two(metrics, epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_cnn(x, y, cfg, seed=5, checkpoint_name="t", log=die_in_two)
    assert (tmp_path / "ckpt" / "t.safetensors").exists()
    logged = []
    resumed = train_cnn(x, y, cfg, seed=5, checkpoint_name="t", log=lambda m, e: logged.append(e))
    assert logged == [2, 3]  # only the missing epochs ran: a run from epoch 0 ends with the same weights too
    assert resumed.epochs_done == 3 and len(resumed.history) == 3
    assert not (tmp_path / "ckpt" / "t.safetensors").exists()  # cleared when done
    for a, b in zip(whole.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)  # bit-identical: the resumed run drew what the unbroken one drew


def test_low_res_rows_are_shown_as_a_small_image_enlarged():
    """The judge's resolution augmentation: a picked row is its 2x2 block means, each repeated over its block (what
    the network makes of a 32 px image); other rows and a share of 0 leave the batch as it was."""
    from models.tagger.train import _low_res

    xb = torch.rand(64, 3, 16, 16)
    same = _low_res(xb, 0.0, 8, torch.Generator().manual_seed(0))
    assert torch.equal(same, xb)
    out = _low_res(xb, 0.5, 8, torch.Generator().manual_seed(0))
    blocks = xb.reshape(64, 3, 8, 2, 8, 2).mean(dim=(3, 5))
    small = blocks.repeat_interleave(2, 2).repeat_interleave(2, 3)
    picked = [i for i in range(64) if not torch.equal(out[i], xb[i])]
    assert 16 < len(picked) < 48  # about half
    for i in range(64):
        assert torch.allclose(out[i], small[i], atol=1e-6) if i in picked else torch.equal(out[i], xb[i])
    assert torch.allclose(_low_res(xb, 1.0, 8, torch.Generator().manual_seed(1)), small, atol=1e-6)


def test_a_judge_shown_small_images_learns_otherwise_and_the_plain_run_is_unchanged(smoke_params):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 32, 32, 3)) * 255).astype(np.uint8)
    y = _toy_labels(40)
    cfg = smoke_params.tagger.model_copy(update={"size": 32, "width": 4, "epochs": 2, "batch": 16})
    plain, again = train_cnn(x, y, cfg, seed=5), train_cnn(x, y, cfg, seed=5, low_res=0.0, low_size=16)
    low = train_cnn(x, y, cfg, seed=5, low_res=0.5, low_size=16)
    pairs = list(zip(plain.net.state_dict().values(), again.net.state_dict().values(), strict=True))
    assert all(torch.equal(a, b) for a, b in pairs)  # a share of 0 draws nothing: the cnn role's stream is as it was
    assert not all(torch.equal(a, b) for a, b in zip(plain.net.state_dict().values(), low.net.state_dict().values()))


def test_a_flipped_read_is_the_mean_of_the_image_and_its_mirror(tmp_path):
    """`flip`: the probabilities are the mean of the image's and its mirror's (a mirror-symmetric image reads as
    plainly); a judge folder saying `read_flip` loads reading that way, one without it plainly."""
    from models.tagger.net import TaggerNet

    torch.manual_seed(0)
    net = TaggerNet(width=4, size=16).eval()
    x = (np.random.default_rng(0).random((6, 16, 16, 3)) * 255).astype(np.uint8)
    plain, mirror = predict_proba(net, x), predict_proba(net, x[:, :, ::-1])
    both = predict_proba(net, x, flip=True)
    for g in GROUPS:
        np.testing.assert_allclose(both[g], (plain[g] + mirror[g]) / 2, atol=1e-6)
        assert not np.array_equal(both[g], plain[g])  # an asymmetric image reads otherwise mirrored
    symmetric = np.concatenate([x[:, :, :8], x[:, :, :8][:, :, ::-1]], axis=2)
    for g in GROUPS:
        np.testing.assert_allclose(
            predict_proba(net, symmetric, flip=True)[g], predict_proba(net, symmetric)[g], atol=1e-6
        )

    for read_flip in (None, True):
        folder = tmp_path / f"judge-{read_flip}"
        net.save(folder, {"thresholds": {"smile=yes": 0.3}, **({"read_flip": read_flip} if read_flip else {})})
        judge = extractor.load_judge(folder)
        assert judge.flip is bool(read_flip) and judge.thresholds == {"smile=yes": 0.3}
        want = evaluate.predict_groups(both if read_flip else plain, judge.thresholds)
        _, reads = judge.read(x)
        assert np.array_equal(np.stack([reads[g] for g in GROUPS], axis=1), want)


def test_frechet_and_kernel_distances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 8))
    b = rng.normal(size=(2000, 8))
    shifted = b + 2.0
    assert frechet_distance(a, b) < 0.05
    assert abs(frechet_distance(a, shifted) - 8 * 4.0) < 1.0  # |mu1 - mu2|^2 = 8 * 2^2
    assert abs(kernel_distance(a, b)) < 0.02
    assert kernel_distance(a, shifted) > 1.0
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(a, np.where(b > 3, np.nan, b))


def test_frechet_distance_is_exact():
    """Against the closed form for full-rank Gaussians and the scipy.linalg.sqrtm formula, and with dead channels
    (singular covariances), where an offset on the covariances used to round small distances down to 0."""
    from scipy import linalg

    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    a = rng.normal(size=(500, 6)) @ m1
    b = rng.normal(size=(700, 6)) @ m2 + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(np.real(linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)

    dead = np.zeros((400, 10))  # features of a weak extractor: most channels 0, the rest tiny
    near, far = dead.copy(), dead.copy()
    near[:, 3] = rng.normal(0.11, 5e-4, 400)
    far[:, 3] = rng.normal(0.11, 5e-4, 400) + 1e-3
    same = dead.copy()
    same[:, 3] = rng.normal(0.11, 5e-4, 400)
    assert 0 < frechet_distance(near, same) < frechet_distance(near, far)
    assert frechet_distance(near, far) == pytest.approx(1e-6, rel=0.1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stage_on_the_smoke_set(smoke_ingest, smoke_params, store, tmp_path, monkeypatch):
    import mlflow

    from core import checkpoint
    from dataset.shards import ImageShards, read_manifest
    from models.tagger import family
    from models.tagger.baseline import LinearTagger
    from models.tagger.labels import labels_for, read_tags
    from models.tagger.net import TaggerNet
    from stages import tagger as stage

    monkeypatch.setattr(checkpoint, "ROOT", tmp_path / "ckpt")
    monkeypatch.chdir(tmp_path)
    from stages import label

    # the labels: the label stage's tags.csv (no annotation yet), then five training images with every group
    # unknown (they stay out of training) and one with an annotator's label
    (tmp_path / "exports").mkdir()
    label.run(smoke_params, tmp_path / "exports", smoke_ingest, tmp_path / "no-render", tmp_path / "label")
    tags_csv = tmp_path / "label" / "tags.csv"
    manifest = read_manifest(smoke_ingest)
    train_ids = [r["id"] for r in manifest if r["split"] == "train"]
    lines = tags_csv.read_text().splitlines()
    dropped = set(train_ids[:5])
    kept = [ln for ln in lines if ln.split(",")[0] not in dropped]
    kept = [ln.replace(",generated,", ",label-studio,", 1) if ln.startswith(train_ids[5] + ",") else ln for ln in kept]
    # two annotators' extra groups (label.extra_groups): `hat` (here, a glasses wearer), labelled on every image,
    # and `scarf`, labelled on three: the first gets a head, the second waits for its labels
    head, *body = [ln.split(",") for ln in kept]
    k = head.index("glasses")
    body = [[*r, "yes" if r[k] == "yes" else "no" if r[k] else "", "no" if i < 3 else ""] for i, r in enumerate(body)]
    tags_csv.write_text("\n".join(",".join(r) for r in [[*head, "hat", "scarf"], *body]) + "\n")

    out = tmp_path / "tagger"
    from models.tagger import roles

    shown_small, train = {}, roles.train_cnn

    def spy(x, y, tp, seed, *args, low_res=0.0, low_size=32, **kw):  # what each role is shown at the smaller size
        shown_small[seed] = (low_res, low_size)
        return train(x, y, tp, seed, *args, low_res=low_res, low_size=low_size, **kw)

    monkeypatch.setattr(roles, "train_cnn", spy)
    metrics = stage.run(smoke_params, smoke_ingest, out, labels=tags_csv)
    tp = smoke_params.tagger
    assert tp.judge_low_res > 0 and shown_small == {
        smoke_params.seed: (0.0, tp.judge_low_size),  # the CNN, the extractor's feature space, learns as before
        smoke_params.seed + tp.judge_seed_offset: (tp.judge_low_res, tp.judge_low_size),  # the judge also at 32 px
    }
    xg = metrics["extra_groups"]
    assert xg["head_by_group"] == {"hat": True, "scarf": False} and xg["labels_needed_by_group"]["hat"] == 0
    assert (
        xg["labels_needed_by_group"]["scarf"]
        == smoke_params.tagger.extra_min_labels - xg["train_labels_by_group"]["scarf"]
    )
    assert (
        0 <= xg["macro_f1_by_group"]["hat"] <= 1 and xg["val_macro_f1_by_group"]["hat"] is not None
    )  # tested: test_extra
    with open(out / "tags_extra.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(manifest)
    assert "hat: head, test macro-F1" in family.summary(metrics) and "scarf: " in family.summary(metrics)
    # the judge reads `hat` with a head of its own, and the train stage conditions its generators on it
    from models.dcgan import family as dcgan_family
    from models.tagger.extractor import load_judge

    assert xg["judge_macro_f1_by_group"]["hat"] is not None and xg["judge_macro_f1_by_group"]["scarf"] is None
    judge = load_judge(out / "judge")
    assert judge.schema.extra == ("hat",) and judge.flip is tp.judge_read_flip is True  # as its thresholds were chosen
    assert "read_flip" not in json.loads((out / "cnn" / "config.json").read_text())  # the extractor reads plainly
    paths = {"data": smoke_ingest, "labels": tags_csv, "auto_tags": out / "tags_auto.csv"}
    paths.update(extra_tags=out / "tags_extra.csv", extra_heads=out / "extra", judge_tagger=out / "judge")
    conditioned, record = dcgan_family.load_conditioned(paths, [32])
    assert conditioned["schema"].extra == ("hat",) and record["extra_groups_waiting"] == ["scarf"]
    n_train = len(train_ids)
    assert metrics["data"]["train_images"] == n_train - 5
    assert metrics["data"]["train_images_by_origin"] == {"generated": n_train - 6, "source": 0, "label_studio": 1}
    assert set(metrics) == {
        "cnn",
        "hog_baseline",
        "judge",
        "floor",
        "chosen",
        "chosen_version",
        "data",
        "auto_tags",
        "extra_groups",
    }  # the one metrics layout
    x_te, y_te = ImageShards(smoke_ingest, 64, "test").arrays()
    # the floor answers every group's most common value among the training labels the stage read (tags.csv, the five
    # unknown rows left out) for every image: test and validation figures of that answer, to the digit
    train_shards = ImageShards(smoke_ingest, 64, "train")
    y_tr, _ = labels_for(train_shards.ids, read_tags(tags_csv))
    y_va = ImageShards(smoke_ingest, 64, "val").arrays()[1]
    for key, y_split in (("macro_f1", y_te), ("val_macro_f1", y_va)):
        answer = {}
        for k, g in enumerate(GROUPS):
            top = np.bincount(y_tr[y_tr[:, k] >= 0, k], minlength=len(ATTRIBUTES[g])).argmax()
            answer[g] = np.zeros((len(y_split), len(ATTRIBUTES[g])), np.float32)
            answer[g][:, top] = 1.0
        assert metrics["floor"][key] == round(evaluate.report(answer, y_split, {})["macro_f1"], 4)
    assert metrics["cnn"]["macro_f1"] > metrics["floor"]["macro_f1"]  # the CNN learnt more than the majority
    # the figures are those of the saved bundles: recomputed from them on the test split, they agree to the digit
    for role in ("cnn", "judge"):
        bundle = out / role
        config = json.loads((bundle / "config.json").read_text())
        probs = predict_proba(TaggerNet.load(bundle), x_te, flip=config.get("read_flip", False))  # as it reads
        rep = evaluate.report(probs, y_te, config["thresholds"])
        assert metrics[role]["macro_f1"] == round(rep["macro_f1"], 4)
        assert metrics[role]["macro_f1_by_group"] == {g: round(v, 4) for g, v in rep["macro_f1_by_group"].items()}
    base = LinearTagger.load(out / "baseline")
    rep = evaluate.report(base.probabilities(x_te), y_te, base.info["thresholds"])
    assert metrics["hog_baseline"]["macro_f1"] == round(rep["macro_f1"], 4)
    x_va, y_va = ImageShards(smoke_ingest, 64, "val").arrays()
    rep_val = evaluate.report(base.probabilities(x_va), y_va, base.info["thresholds"])
    assert metrics["hog_baseline"]["val_macro_f1"] == round(rep_val["macro_f1"], 4)  # validation chose the champion
    assert sorted(p.name for p in (out / "baseline").iterdir()) == ["arrays.npz", "config.json"]
    assert (out / "cnn" / "model.safetensors").exists() and (out / "judge" / "model.safetensors").exists()
    assert json.loads((out / "balance.json").read_text())["splits"]["train"]

    rows = read_manifest(smoke_ingest)
    with open(out / "tags_auto.csv", newline="") as f:
        auto = list(csv.DictReader(f))
    assert [r["id"] for r in auto] == [r["id"] for r in rows]  # every image, labelled or not
    assert all(r["hair_color"] in ATTRIBUTES["hair_color"] for r in auto)
    p = np.array([[float(r[f"p:hair_color={v}"]) for v in ATTRIBUTES["hair_color"]] for r in auto])
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-3)
    # each group's confidence is its predicted value's probability; trusted exactly from its source's floor up, its
    # own once the source has auto_min_labels labelled validation images of the group, else the overall one
    doc = json.loads((out / "floors.json").read_text())
    assert list(doc["by_source"]) == ["generated"] and doc["min_labels"] == smoke_params.tagger.auto_min_labels
    overall = {g: e["floor"] for g, e in doc["overall"].items()}
    assert overall == pytest.approx(metrics["auto_tags"]["floor_by_group"], abs=1e-4)
    for e in doc["by_source"]["generated"].values():
        assert e["from"] == ("own" if e["labelled"] >= doc["min_labels"] else "overall")
        assert e["labels_needed"] == max(0, doc["min_labels"] - e["labelled"])
    assert metrics["auto_tags"]["val_labels_needed_by_source"]["generated"] == max(
        e["labels_needed"] for e in doc["by_source"]["generated"].values()
    )
    for r in auto:
        assert r["source"] == "generated"
        for g in GROUPS:
            c = float(r[f"c:{g}"])
            assert abs(c - float(r[f"p:{g}={r[g]}"])) < 1e-3
            floor = doc["by_source"]["generated"][g]["floor"]
            if floor is not None and abs(c - floor) <= 1e-4:  # the file's 4 decimals cannot say on which side
                continue
            assert r[f"trusted:{g}"] == ("1" if floor is not None and c > floor else "0")
    # the five images the labels left out take their trusted auto-tags, the rest stays unknown; the annotated image
    # repeats the generated set's values, so its tags count as the source's
    untagged = [r for r in auto if r["id"] in dropped]
    trusted = sum(r[f"trusted:{g}"] == "1" for r in untagged for g in GROUPS)
    assert metrics["auto_tags"]["tags_by_origin"] == {
        "annotation": 0,
        "source": (len(rows) - 5) * len(GROUPS),
        "auto": trusted,
        "unknown": 5 * len(GROUPS) - trusted,
    }

    client = mlflow.MlflowClient()
    versions = client.search_model_versions("name='anime-tagger'")
    assert sorted(v.tags["role"] for v in versions) == ["baseline", "cnn", "judge"]
    assert all(v.tags.get("git_commit") and v.tags.get("profile") == "smoke" for v in versions)
    pick = client.get_model_version_by_alias("anime-tagger", "challenger")  # the evaluate stage moves champion
    assert pick.tags["role"] == {"cnn": "cnn", "hog_baseline": "baseline"}.get(metrics["chosen"], "?")
    assert str(pick.version) == metrics["chosen_version"]
    assert tracking.alias_version("anime-tagger", "champion") is None
    assert client.get_model_version_by_alias("anime-tagger", "judge").tags["role"] == "judge"
    registered = json.loads((out / "registered.json").read_text())
    assert client.get_model_version("anime-tagger", registered["cnn"]).tags["role"] == "cnn"
    runs = mlflow.search_runs(experiment_names=["tagger"], output_format="list")
    cnn_run = next(r for r in runs if r.data.tags.get("role") == "cnn")
    assert "macro_f1" in cnn_run.data.metrics and "hair_color/blonde/ap" in cnn_run.data.metrics
    arts = {a.path for a in client.list_artifacts(cnn_run.info.run_id)}
    assert {"confusion_matrices.png", "precision_recall.png"} <= arts
    # the version is an MLflow model (serve/pyfunc.py) holding the bundle, which loads as the tagger it is
    assert client.get_model_version("anime-tagger", registered["cnn"]).source.startswith("models:/")
    from models.tagger.net import TaggerNet

    TaggerNet.load(tracking.download_version("anime-tagger", registered["cnn"], tmp_path / "version"))

    # the extractor stage pins this run's cnn in a store without a pin; the pinned version scores image sets
    from stages import extractor as extractor_stage

    pin = extractor_stage.run(out, tmp_path / "extractor")
    assert pin["version"] == str(registered["cnn"]) and pin["role"] == "cnn"
    assert json.loads((tmp_path / "extractor" / "pin.json").read_text()) == pin
    x, _ = ImageShards(smoke_ingest, 64).arrays()
    pinned = str(tmp_path / "extractor" / "pin.json")
    pinned_tagger = extractor.load_extractor(pinned=pinned)
    net, version = pinned_tagger.net, pinned_tagger.version
    assert version == pin["version"] and net.feature_dim == 8 * smoke_params.tagger.width == pin["feature_dim"]
    same = extractor.score(x[::2], x[1::2], pinned=pinned)
    noise = np.random.default_rng(0).integers(0, 256, x[1::2].shape, dtype=np.uint8)
    far = extractor.score(x[::2], noise, pinned=pinned)
    assert same["extractor_version"] == version
    assert far["fd_tagger"] > same["fd_tagger"] and far["kid_tagger"] > same["kid_tagger"]
    local = predict_proba(net, x[:4])
    assert set(local) == set(GROUPS)

    # moving it is on purpose only: a baseline has no features; the judge CNN can take it, recorded with the reason
    with pytest.raises(BadInput, match="only a tagger CNN"):
        extractor_stage.move(registered["baseline"], "try", repro=False)
    with pytest.raises(BadInput, match="--why"):
        extractor_stage.move(registered["judge"], " ", repro=False)
    assert extractor_stage.move(registered["judge"], "the judge generalises better", repro=False) == pin["version"]
    moved = client.get_model_version("anime-tagger", registered["judge"]).tags
    assert moved["alias/extractor/why"] == "the judge generalises better"
    assert moved["alias/extractor/previous"] == pin["version"]
    assert extractor_stage.run(out, tmp_path / "extractor")["version"] == str(registered["judge"])
    # retraining the tagger does not move the pin
    again = stage.run(smoke_params, smoke_ingest, tmp_path / "tagger2", labels=tags_csv)
    assert again["cnn"]["version"] not in (pin["version"], registered["judge"])
    assert extractor_stage.run(tmp_path / "tagger2", tmp_path / "extractor")["version"] == str(registered["judge"])
    # a store whose pinned weights are not what the pin says is refused
    doc = json.loads(Path(pinned).read_text())
    Path(pinned).write_text(json.dumps({**doc, "weights_sha256": "0" * 64}))
    with pytest.raises(ValueError, match="not the pinned extractor"):
        extractor.load_extractor(pinned=pinned)


def test_tagger_params_checked():
    from pydantic import ValidationError

    from core.params import TaggerParams

    base = load_params(REPO / "params.yaml").tagger.model_dump()
    assert TaggerParams.model_validate({**base, "group_weights": {"smile": 2}}).group_weights == {"smile": 2}
    with pytest.raises(ValidationError, match="expected a group of"):
        TaggerParams.model_validate({**base, "group_weights": {"nose": 2}})
    with pytest.raises(ValidationError):
        TaggerParams.model_validate({**base, "baseline": {**base["baseline"], "C": [0]}})
    with pytest.raises(ValidationError, match="judge_low_size 64 must be below tagger.size 64"):
        TaggerParams.model_validate({**base, "judge_low_res": 0.5, "judge_low_size": 64})
    assert TaggerParams.model_validate({**base, "judge_low_res": 0.0, "judge_low_size": 64}).judge_low_res == 0.0
