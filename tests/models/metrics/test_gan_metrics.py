"""The generator's metrics (models/metrics/prd.py, ndb.py, msssim.py, tags.py): each checked on sets whose answer is
known by construction, so a metric computed the wrong way round or on the wrong axis fails here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.names import ATTRIBUTES, GROUPS
from models import metrics
from models.metrics import generators
from models.metrics import msssim as msssim_module
from models.metrics import prd as prd_module
from models.metrics.msssim import msssim_config, msssim_diversity
from models.metrics.ndb import ndb_bins, ndb_ratio
from models.metrics.prd import precision, recall
from models.metrics.tags import cond_accuracy, cond_accuracy_by_group, tag_tv, tag_tv_by_group

SIZES = (32, 64, 96, 128, 256)


def test_registry_lists_every_new_metric_with_its_direction():
    expected = {
        "precision": False,
        "recall": False,
        "ndb_ratio": True,
        "msssim_diversity": False,
        "tag_tv": True,
        "cond_accuracy": False,
    }
    assert set(expected) <= set(metrics.names())
    assert {n: metrics.get(n).lower_is_better for n in expected} == expected


# precision and recall


def _brute_precision(real: np.ndarray, fake: np.ndarray, k: int) -> float:
    radii = [sorted(np.linalg.norm(r - o) for j, o in enumerate(real) if j != i)[k - 1] for i, r in enumerate(real)]
    inside = [any(np.linalg.norm(f - r) <= rad for r, rad in zip(real, radii)) for f in fake]
    return float(np.mean(inside))


def test_a_set_against_itself_has_full_precision_and_recall():
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert precision(x, x) == 1.0 and recall(x, x) == 1.0


def test_a_far_shifted_set_has_zero_precision_and_recall():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 16)), rng.normal(size=(200, 16)) + 100.0
    assert precision(real, fake) == 0.0 and recall(real, fake) == 0.0


def test_a_fake_set_covering_one_of_two_modes_is_precise_but_recalls_half():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [50.0, 0.0]])  # 2-D: in higher D the tails of 300 samples fall outside anyway
    real = np.concatenate([rng.normal(size=(300, 2)) + c for c in centres])
    fake = rng.normal(size=(300, 2)) + centres[0]
    assert precision(real, fake) > 0.95
    assert recall(real, fake) == pytest.approx(0.5, abs=0.03)


def test_precision_matches_a_brute_force_loop_across_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(30, 4)), rng.normal(size=(25, 4)) * 1.3 + 0.4
    monkeypatch.setattr(prd_module, "_BLOCK_ENTRIES", 64)  # a few rows per block: block edges get exercised
    for k in (1, 3, 5):
        assert precision(real, fake, k=k) == pytest.approx(_brute_precision(real, fake, k))
        assert recall(real, fake, k=k) == pytest.approx(_brute_precision(fake, real, k))
    assert 0.0 < precision(real, fake) < 1.0  # the example is not trivially all-in or all-out


def test_a_duplicate_counts_as_a_neighbour_but_self_does_not():
    # k=1 radii: 0 for the two copies (each other's neighbour), 0.5 for the pair at 10; so (0.1, 0) is outside and
    # (10.3, 0) inside. Counting self would give every radius 0 (1/3); dropping zero distances would give 1 (3/3).
    real = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [10.5, 0.0]])
    assert precision(real, np.array([[0.0, 0.0], [0.1, 0.0], [10.3, 0.0]]), k=1) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("real", "fake", "k", "message"),
    [
        (np.zeros((3, 2)), np.zeros((5, 2)), 3, "at least 4 vectors"),
        (np.zeros((10, 2)), np.zeros((5, 3)), 3, "differ in width"),
        (np.zeros(10), np.zeros((5, 2)), 3, r"\[N, D\]"),
        (np.full((10, 2), np.nan), np.zeros((5, 2)), 3, "NaN"),
        (np.zeros((10, 2)), np.zeros((5, 2)), 0, "positive integer"),
    ],
)
def test_precision_rejects_bad_input(real, fake, k, message):
    with pytest.raises(ValueError, match=message):
        precision(real, fake, k=k)


def test_recall_needs_k_plus_one_fake_vectors():
    with pytest.raises(ValueError, match="fake features: need at least 4"):
        recall(np.zeros((10, 2)), np.zeros((3, 2)))


# number of statistically different bins


def _clusters(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = np.random.default_rng(99).normal(size=(6, 4)) * 5  # the same mixture for every draw
    return centres[rng.integers(0, 6, n)] + rng.normal(size=(n, 4))


def test_ndb_of_the_same_distribution_is_small():
    rng = np.random.default_rng(4)
    assert ndb_ratio(_clusters(rng, 400), _clusters(rng, 400), bins=20) <= 0.1


def test_ndb_of_a_collapsed_set_is_large():
    rng = np.random.default_rng(5)
    train = _clusters(rng, 400)
    collapsed = train[:1] + rng.normal(size=(300, 4)) * 1e-3
    assert ndb_ratio(train, collapsed, bins=20) >= 0.5


def test_ndb_bins_shares_sum_to_one_and_flag_the_bins_that_differ():
    rng = np.random.default_rng(6)
    train = _clusters(rng, 300)
    out = ndb_bins(train, train[:1].repeat(50, axis=0), bins=10)
    assert out.train_share.sum() == pytest.approx(1.0) and out.fake_share.sum() == pytest.approx(1.0)
    assert out.fake_share.max() == 1.0  # every copy lands in one bin
    assert out.p_value[out.fake_share.argmax()] < 0.05 and (out.p_value >= 0).all() and (out.p_value <= 1).all()


def test_ndb_needs_two_train_vectors_per_bin():
    with pytest.raises(ValueError, match="bins=20 needs at least 40 train vectors; got 30"):
        ndb_ratio(np.zeros((30, 2)), np.zeros((30, 2)), bins=20)
    with pytest.raises(ValueError, match="NaN"):
        ndb_ratio(np.full((100, 2), np.inf), np.zeros((30, 2)), bins=20)


# MS-SSIM diversity


def _smooth_images(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Blobs of random colour and position: varied, structured images like a generator's, not pixel noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3))
    for i in range(n):
        cy, cx, r = rng.uniform(0.2, 0.8, 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (0.05 + 0.1 * r))
        out[i] = rng.uniform(0, 1, 3) * blob[..., None] + rng.uniform(0, 1, 3) * (1 - blob[..., None])
    return (out * 255).round().astype(np.uint8)


@pytest.mark.parametrize("size", SIZES)
def test_msssim_config_fits_each_size(size):
    kernel, betas = msssim_config(size)
    assert kernel % 2 == 1 and kernel >= 7
    assert sum(betas) == pytest.approx(1.0)
    assert betas == pytest.approx(
        np.asarray(msssim_module.BETAS[: len(betas)]) / sum(msssim_module.BETAS[: len(betas)])
    )
    # torchmetrics' check, and the window inside the coarsest scale
    assert size // max(1, len(betas) - 1) ** 2 > kernel - 1 and size // 2 ** (len(betas) - 1) > kernel - 1
    rng = np.random.default_rng(size)
    same = np.repeat(_smooth_images(rng, 1, size), 3, axis=0)
    assert msssim_diversity(same, pairs=2) == pytest.approx(0.0, abs=1e-4)  # float32 rounding


def test_msssim_config_uses_the_standard_at_256_and_fewer_scales_below():
    assert msssim_config(256) == (11, pytest.approx(msssim_module.BETAS, rel=1e-3))  # they sum to 1.0001
    assert len(msssim_config(128)[1]) == 5 and len(msssim_config(64)[1]) == 4 and len(msssim_config(32)[1]) == 3
    with pytest.raises(ValueError, match="at least 8 px"):
        msssim_config(4)


def test_noise_images_are_diverse():
    noise = np.random.default_rng(7).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    assert msssim_diversity(noise, pairs=16) > 0.85


def test_a_near_constant_set_is_much_less_diverse_than_a_varied_one():
    rng = np.random.default_rng(8)
    varied = _smooth_images(rng, 16, 64)
    base = varied[:1].astype(np.int16).repeat(16, axis=0)
    near = np.clip(base + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8)
    d_near, d_varied = msssim_diversity(near, pairs=32), msssim_diversity(varied, pairs=32)
    assert d_near < 0.05 and d_varied > 3 * d_near and d_varied > 0.1


def test_a_few_images_are_scored_on_each_of_their_pairs_once_and_many_on_a_draw():
    """Where the images make no more distinct pairs than asked for, every pair is scored once (the exact mean the
    draw estimates; MS-SSIM is symmetric); above that, `pairs` are drawn with the seed."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms

    images = _smooth_images(np.random.default_rng(9), 6, 32)  # 15 distinct pairs
    kernel, betas = msssim_config(32)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0

    args = {"sigma": msssim_module._sigma(kernel), "kernel_size": kernel, "betas": betas, "data_range": 1.0}

    def one(i, j):
        return float(ms(x[i : i + 1], x[j : j + 1], normalize="relu", **args))

    exact = 1.0 - np.mean([one(i, j) for i in range(6) for j in range(i + 1, 6)])
    assert msssim_diversity(images, pairs=15) == pytest.approx(exact, abs=1e-6)
    assert msssim_diversity(images, pairs=500) == msssim_diversity(images, pairs=15, seed=3)  # no draw: no seed
    assert msssim_diversity(images, pairs=14, seed=0) != msssim_diversity(images, pairs=14, seed=1)  # a draw


def test_msssim_diversity_rejects_bad_images():
    with pytest.raises(ValueError, match="uint8"):
        msssim_diversity(np.zeros((4, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[N, S, S, 3\]"):
        msssim_diversity(np.zeros((4, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="at least 2 images"):
        msssim_diversity(np.zeros((1, 32, 32, 3), np.uint8))


# tagger readings


def test_tag_tv_is_zero_for_equal_histograms_and_one_for_disjoint_ones():
    a = {"glasses": np.array([0, 1, 0, 1]), "hair_length": np.array([0, 1, 2, 2])}
    shuffled = {g: v[::-1].copy() for g, v in a.items()}  # same histograms, different order
    assert tag_tv(a, shuffled) == 0.0
    assert tag_tv({"smile": np.zeros(5, int)}, {"smile": np.ones(3, int)}) == 1.0


def test_tag_tv_by_hand():
    real = {"hair_length": np.array([0, 0, 1, 2]), "smile": np.array([0, 0, 0, 1])}
    fake = {"hair_length": np.array([0, 1, 1, 1]), "smile": np.array([0, 1, 0, 1]), "glasses": np.array([1, 1, 1, 1])}
    # hair_length: real (.5, .25, .25), fake (.25, .75, 0) -> (.25 + .5 + .25) / 2 = .5
    # smile: real (.75, .25), fake (.5, .5) -> .25; glasses is only in fake, so it is left out
    assert tag_tv_by_group(real, fake) == pytest.approx({"hair_length": 0.5, "smile": 0.25})
    assert tag_tv(real, fake) == pytest.approx(0.375)


def test_tag_tv_rejects_bad_readings():
    with pytest.raises(ValueError, match="unknown attribute groups"):
        tag_tv({"hair_colour": np.zeros(3, int)}, {"hair_colour": np.zeros(3, int)})
    with pytest.raises(ValueError, match="outside"):
        tag_tv({"smile": np.array([0, 2])}, {"smile": np.array([0, 1])})
    with pytest.raises(ValueError, match="share no attribute group"):
        tag_tv({"smile": np.array([0])}, {"blush": np.array([0])})


def test_cond_accuracy_by_hand_skips_unconditioned():
    requested = {
        "hair_color": np.array([2, 2, -1, 7]),
        "glasses": np.array([1, 0, 1, -1]),
        "smile": np.array([-1, -1, -1, -1]),
    }
    read = {
        "hair_color": np.array([2, 3, 5, 7]),
        "glasses": np.array([1, 1, 0, 0]),
        "smile": np.array([1, 0, 1, 0]),
        "blush": np.array([0, 0, 0, 0]),
    }
    # hair_color 2 of 3 conditioned right; glasses 1 of 3; smile never conditioned; blush not requested
    assert cond_accuracy_by_group(requested, read) == pytest.approx({"hair_color": 2 / 3, "glasses": 1 / 3})
    assert cond_accuracy(requested, read) == pytest.approx(3 / 6)
    assert len(ATTRIBUTES["hair_color"]) == 8  # the 7 above is the last valid class


def test_cond_accuracy_rejects_bad_readings():
    with pytest.raises(ValueError, match="nothing was conditioned"):
        cond_accuracy({"smile": np.array([-1, -1])}, {"smile": np.array([0, 1])})
    with pytest.raises(ValueError, match="readings lack it"):
        cond_accuracy({"smile": np.array([1])}, {"blush": np.array([1])})
    with pytest.raises(ValueError, match="2 requested but 3 read"):
        cond_accuracy({"smile": np.array([1, 0])}, {"smile": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="outside"):
        cond_accuracy({"smile": np.array([-2])}, {"smile": np.array([1])})


def _extractor():
    from models.tagger.extractor import Tagger
    from models.tagger.net import TaggerNet

    torch.manual_seed(0)
    return Tagger(TaggerNet(width=4, size=32).eval(), {}, "test")


def test_a_collapsed_generator_is_caught_by_ndb_and_diversity():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (8, 32, 32, 3)).astype(np.int16)

    # "real" images: 8 prototypes with noise; "train" the same distribution
    def make(n):
        return np.clip(base[rng.integers(0, 8, n)] + rng.integers(-40, 40, (n, 32, 32, 3)), 0, 255).astype(np.uint8)  # noqa: E731

    train, split = make(600), make(200)
    extractor = _extractor()
    ref = generators.reference(extractor, split, np.full((200, len(GROUPS)), -1), train, 200, seed=0)
    healthy = generators.unconditional_scores(extractor, ref, make(200), seed=0)
    collapsed_imgs = np.clip(base[[0] * 200] + rng.integers(-2, 2, (200, 32, 32, 3)), 0, 255).astype(np.uint8)
    collapsed = generators.unconditional_scores(extractor, ref, collapsed_imgs, seed=0)
    assert collapsed["ndb_ratio"] > 0.3 > 0.15 > healthy["ndb_ratio"]
    assert collapsed["msssim_diversity"] < 0.5 * healthy["msssim_diversity"]
    assert collapsed["recall"] < 0.3 < healthy["recall"]


def _kid_u_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 with the cubic kernel, pair by pair."""

    def k(a, b):
        return (a @ b / len(a) + 1) ** 3

    xx = [k(x[i], x[j]) for i in range(len(x)) for j in range(len(x)) if i != j]
    yy = [k(y[i], y[j]) for i in range(len(y)) for j in range(len(y)) if i != j]
    xy = [k(a, b) for a in x for b in y]
    return float(np.mean(xx) + np.mean(yy) - 2 * np.mean(xy))


def test_kid_with_an_interval_is_the_u_statistic_of_every_pair():
    from models.metrics.kid import kid_interval

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1, size=(20, 5))
    out = kid_interval(x, y, boots=50)
    assert out["kid"] == pytest.approx(_kid_u_statistic(x, y))
    assert out["low"] <= out["kid"] <= out["high"] and (out["n_real"], out["n_fake"]) == (12, 20)


def test_the_kid_interval_holds_zero_for_one_distribution_and_excludes_it_for_two():
    """80 held-out rows against 1,000 generated ones, as a transfer comparison has them. A bootstrap that paired a
    row drawn twice with itself would push every within-set term up and the interval off zero."""
    from models.metrics.kid import kid_interval

    rng = np.random.default_rng(1)
    real = rng.normal(size=(80, 32))
    same = kid_interval(real, rng.normal(size=(1000, 32)), boots=100, seed=2)
    assert same["low"] < 0 < same["high"] and abs(same["kid"]) < same["high"] - same["low"]
    shifted = kid_interval(real, rng.normal(0.4, 1, size=(1000, 32)), boots=100, seed=2)
    assert shifted["low"] > same["high"] > 0


def test_held_out_kid_scores_each_split_on_as_many_generated_images_as_asked():
    from models.metrics.generators import Reference, held_out_kid

    class Extractor:
        def read(self, images):
            return images.reshape(len(images), -1)[:, :8].astype(np.float64) / 255, {}

    rng = np.random.default_rng(3)
    real = {s: rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8) for s, n in (("val", 10), ("test", 14))}
    refs = {
        s: Reference(im, np.zeros((len(im), 6), np.int64), Extractor().read(im)[0], {}, np.zeros((2, 8)))
        for s, im in real.items()
    }
    asked = []

    def sample(n, cond, seed):
        asked.append((n, cond, seed))
        return np.random.default_rng(seed).integers(0, 255, (n, 4, 4, 3), dtype=np.uint8)

    out = held_out_kid(Extractor(), refs, sample, 40, seed=7)
    assert asked == [(40, None, 7)]  # one draw, scored against both splits
    assert out["kid_generated"] == 40 and out["kid_real"] == 14 and out["val_kid_real"] == 10
    for p in ("", "val_"):
        assert out[f"{p}kid_tagger_low"] <= out[f"{p}kid_tagger"] <= out[f"{p}kid_tagger_high"]


def test_an_extractor_with_a_ruler_reads_every_feature_figure_in_both_spaces():
    """With the second ruler attached (as the train and evaluate stages attach it), FD, KID, precision and recall are
    read again in its space under `_ssl` names, from the same images; without it, they are not reported."""
    from models.metrics.ssl import SSL

    rng = np.random.default_rng(4)
    real, fake, train = (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (60, 60, 120))
    features = {}

    class Ruler:
        def features(self, images):
            features.setdefault("calls", []).append(len(images))
            return images.reshape(len(images), -1)[:, :16].astype(np.float64)

    plain = _extractor()
    ref = generators.reference(plain, real, np.full((60, len(GROUPS)), -1), train, 60, seed=0)
    without = generators.unconditional_scores(plain, ref, fake, seed=0)
    assert not set(SSL.values()) & set(without) and ref.ruler_features is None
    both = _extractor()
    both.ruler = Ruler()
    ref2 = generators.reference(both, real, np.full((60, len(GROUPS)), -1), train, 60, seed=0)
    scores = generators.unconditional_scores(both, ref2, fake, seed=0)
    assert features["calls"] == [60, 60]  # the reference's images once, the generated ones once
    second = Ruler().features
    assert scores["fd_ssl"] == pytest.approx(metrics.get("fd_tagger").fn(second(real), second(fake)))
    assert scores["recall_ssl"] == metrics.get("recall").fn(second(real), second(fake))
    assert scores["fd_tagger"] == without["fd_tagger"]  # the first space's figures do not move
    assert {metrics.get(n).lower_is_better for n in ("fd_ssl", "kid_ssl")} == {True}
    assert not metrics.get("precision_ssl").lower_is_better and not metrics.get("recall_ssl").lower_is_better
