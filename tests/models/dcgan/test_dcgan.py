"""The DCGAN family's pieces (models/dcgan/): the networks built from the resolution, conditions and conditional
batch norm, D's reader and its recipe, moved pairs, fine-tuning checks, the PCA-Gaussian baseline, the end-of-run
recalibration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from core.names import ATTRIBUTES, GROUPS
from core.params import load_params
from models.dcgan.conditions import conditions
from models.dcgan.net import Discriminator, Generator, layout, null_condition
from models.dcgan.pca import PcaGaussian
from models.dcgan.task import NULL, DcganTask, ReaderBatch, ReaderRecipe, moved_pair, reader_view
from models.engine import gan
from tests.conftest import REPO
from tests.models.engine.test_gan import _config, _task


@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_networks_follow_the_resolution(size):
    base, k = layout(size)
    assert base * 2**k == size
    G, D = Generator(size, 16, 4, 3), Discriminator(size, 4, conditional=True)
    x = G(torch.randn(2, 16), null_condition(2))
    logits, aux = D(x, null_condition(2))
    assert x.shape == (2, 3, size, size) and logits.shape == (2,) and len(aux["classes"]) == len(GROUPS)
    with pytest.raises(ValueError, match="size 80"):
        layout(80)


def test_at_64_px_the_networks_are_the_pytorch_examples():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # the example's netG / netD (ngf = ndf = 64, nz = 100, no biases): 3,576,704 and 2,765,568 parameters
    assert count(Generator(64, 100, 64, 0)) == 3_576_704
    assert count(Discriminator(64, 64, conditional=False)) == 2_765_568


def test_a_null_condition_is_unconditional_sampling_and_the_bundle_round_trips(tmp_path):
    G = Generator(32, 8, 4, 2).eval()
    z = torch.randn(3, 8)
    assert torch.equal(G(z), G(z, null_condition(3)))
    G.save(tmp_path / "g")
    again = Generator.load(tmp_path / "g")
    assert torch.equal(again(z), G(z))


def test_conditional_batch_norm_reaches_every_layer_and_round_trips(tmp_path):
    torch.manual_seed(0)
    G = Generator(32, 8, 4, 2, cond_bn=True)
    assert len(G.norms) == 3 and not hasattr(G, "main")
    for norm in G.norms:  # the condition moves every norm's gain and bias, not only G's input
        c = torch.randn(2, 2 * len(GROUPS))
        x = torch.randn(2, norm.bn.num_features, 4, 4)
        assert not torch.allclose(norm(x, c[:1].expand(2, -1)), norm(x, c[1:].expand(2, -1)))
    gan.train(_task(G=G), _config(steps=2))  # trains (batch norm in train mode, the condition's gradients)
    G.eval()
    z, cond = torch.randn(3, 8), null_condition(3)
    cond[:, 0] = 1
    assert not torch.equal(G(z, cond), G(z))
    G.save(tmp_path / "g")
    again = Generator.load(tmp_path / "g")
    # G trained channels-last, the loaded one is contiguous: the same numbers up to the convolution's summation order
    assert again.config["cond_bn"] and torch.allclose(again(z, cond), G(z, cond), atol=1e-6)
    with pytest.raises(ValueError, match="cond_bn"):
        Generator(32, 8, 4, 0, cond_bn=True)


def test_the_reader_learns_on_real_images_and_guides_g_with_real_statistics():
    torch.manual_seed(0)
    G = Generator(32, 8, 4, 2)
    D = Discriminator(32, 4, conditional=True, reader=4)
    rng = np.random.default_rng(0)
    task = DcganTask(
        G,
        D,
        torch.optim.Adam(G.parameters()),
        torch.optim.Adam(D.parameters()),
        rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 2, (16, len(GROUPS))),
        1.0,  # every condition dropped: G and D train unconditionally, the reader still learns the rows' labels
        0.0,
        ac_weight=0.0,
        reader=ReaderRecipe(1.0, flip=True, shift=2, label_smoothing=0.05),
    )
    b = task.batch(torch.arange(8), torch.Generator().manual_seed(0), slice(None), 8)
    assert (b.cond == NULL).all() and torch.equal(b.labels, task.labels[:8])
    assert b.reader_real.shape == b.real.shape and not torch.equal(b.reader_real, b.real)  # its own augmentation
    loss, figs = task.d_extra(b, {}, {})  # D's step: the reader's cross-entropy on its view of the real images
    loss.backward()
    assert figs["reader_d"] > 0 and all(q.grad is not None for q in D.reader.parameters())
    assert all(q.grad is None for n, q in D.named_parameters() if not n.startswith("reader."))
    D.zero_grad(set_to_none=True)
    before = {k: v.clone() for k, v in D.reader.named_buffers()}
    D.requires_grad_(False)  # as the engine freezes D in G's step
    b.cond = task.labels[:8]  # G asked for the rows' values
    loss, figs = task.g_extra(b, G(b.g_in[0], b.cond), {})
    loss.backward()
    assert figs["reader_g"] > 0 and all(q.grad is not None and q.grad.abs().sum() > 0 for q in G.parameters())
    assert D.reader.training  # read in eval mode (real images' running statistics), then back to training
    assert all(torch.equal(v, before[k]) for k, v in D.reader.named_buffers())  # fakes never move its statistics


def test_group_factors_weigh_each_groups_cross_entropy_in_gs_reader_loss():
    torch.manual_seed(0)
    classes = [torch.randn(6, len(ATTRIBUTES[g]) + 1) for g in GROUPS]
    cond = torch.stack([torch.randint(len(ATTRIBUTES[g]), (6,)) for g in GROUPS], dim=1)
    cond[:3, 0] = NULL[0]  # rows without that group's condition are left out of its cross-entropy
    per = torch.stack(
        [F.cross_entropy(c[cond[:, i] != NULL[i]], cond[cond[:, i] != NULL[i], i]) for i, c in enumerate(classes)]
    )
    plain, logged = DcganTask._ce(classes, cond, 2.0)
    assert torch.allclose(plain, 2.0 * per.mean()) and logged == pytest.approx(float(per.mean()))
    factors = tuple(3.0 if g == "glasses" else 1.0 for g in GROUPS)
    weighted, logged_w = DcganTask._ce(classes, cond, 2.0, factors)
    k = GROUPS.index("glasses")
    assert torch.allclose(weighted, 2.0 * (per.sum() + 2.0 * per[k]) / len(GROUPS))
    assert logged_w == pytest.approx(logged)  # the logged figure stays the plain mean, comparable across settings
    assert torch.equal(DcganTask._ce(classes, cond, 2.0, (1.0,) * len(GROUPS))[0], plain)  # all ones: the same bits


def test_a_moved_pair_changes_exactly_one_group_to_another_value():
    n = 400
    cond = torch.stack([torch.randint(len(ATTRIBUTES[g]) + 1, (n,)) for g in GROUPS], dim=1)  # some null
    which, pair = moved_pair(cond, torch.Generator().manual_seed(3), slice(None), n)
    changed = pair != cond
    assert torch.equal(changed.sum(dim=1), torch.ones(n, dtype=torch.long))  # one group per row, always moved
    assert torch.equal(changed.float().argmax(dim=1), which)
    assert bool((pair.gather(1, which[:, None]).squeeze(1) < NULL[which]).all())  # to a value, never to null
    assert set(which.tolist()) == set(range(len(GROUPS)))  # every group gets moved
    # drawn for the global batch: two ranks' halves are the whole batch's rows
    halves = [moved_pair(cond[r], torch.Generator().manual_seed(3), r, n) for r in (slice(0, 200), slice(200, n))]
    assert torch.equal(torch.cat([h[1] for h in halves]), pair)


def test_the_pair_loss_teaches_g_the_moved_reading_and_keeps_the_others():
    torch.manual_seed(0)
    G = Generator(32, 8, 4, embed=4)
    D = Discriminator(32, 4, conditional=True, reader=4)
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    labels = np.stack([np.random.default_rng(i).integers(0, len(ATTRIBUTES[g]), 16) for i, g in enumerate(GROUPS)], 1)
    opt = lambda m: torch.optim.Adam(m.parameters())  # noqa: E731
    task = DcganTask(G, D, opt(G), opt(D), images, labels, 0.0, 0.0, 1.0, ReaderRecipe(1.0, pair_weight=2.0))
    b = task.batch(torch.arange(8), torch.Generator().manual_seed(1), slice(None), 8)
    assert b.pair is not None and int((b.pair != b.cond).sum()) == 8
    fake = G(*b.g_in)
    _, plain_figs = DcganTask(G, D, opt(G), opt(D), images, labels, 0.0, 0.0, 1.0, ReaderRecipe(1.0)).g_extra(
        b, fake, {}
    )
    loss, figs = task.g_extra(b, fake, {})
    assert figs["pair_move"] > 0 and figs["pair_keep"] >= 0 and figs["reader_g"] == plain_figs["reader_g"]
    loss.backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in G.parameters())
    # the same image twice keeps every reading: no divergence
    same = ReaderBatch(b.real, b.g_in, b.cond, b.reader_real, b.labels, b.cond.clone(), b.moved)
    assert task._pair(same, D.read(G(*b.g_in)))[2] == pytest.approx(0.0, abs=1e-6)


def test_reader_group_weights_name_known_groups():
    params = load_params(REPO / "params.yaml", "smoke")
    section = params.dcgan.reader.model_dump()
    for bad in ({"hair": 2.0}, {"glasses": 0.0}, {"glasses": 101.0}):
        with pytest.raises(ValidationError, match="group_weights"):
            type(params.dcgan.reader).model_validate({**section, "group_weights": bad})
    ok = type(params.dcgan.reader).model_validate({**section, "group_weights": {"glasses": 3.0}})
    assert ok.group_weights == {"glasses": 3.0}


def test_the_readers_view_draws_its_randomness_for_the_global_batch():
    """Under torchrun each rank keeps its rows of one global draw: two ranks' views are the single process's halves."""
    real = torch.rand(8, 3, 32, 32) * 2 - 1
    recipe = ReaderRecipe(1.0, flip=True, shift=3)
    whole = reader_view(real, recipe, torch.Generator().manual_seed(5), slice(None), 8)
    halves = [reader_view(real[r], recipe, torch.Generator().manual_seed(5), r, 8) for r in (slice(0, 4), slice(4, 8))]
    assert torch.equal(torch.cat(halves), whole)
    assert not torch.equal(whole, real) and whole.abs().max() <= 1  # edges replicated: still images in [-1, 1]
    flips = reader_view(real, ReaderRecipe(1.0, flip=True), torch.Generator().manual_seed(5), slice(None), 8)
    flipped = [torch.equal(flips[i], real[i].flip(2)) for i in range(8)]
    assert all(f or torch.equal(flips[i], real[i]) for i, f in enumerate(flipped)) and 0 < sum(flipped) < 8
    assert torch.equal(reader_view(real, ReaderRecipe(1.0), torch.Generator(), slice(None), 8), real)  # no recipe


def test_fine_tuning_a_version_with_other_network_settings_is_a_clear_error(tmp_path, smoke_params):
    from core.errors import BadInput
    from models.dcgan.family import SplitData, _train_one
    from models.engine import distributed

    p = smoke_params.dcgan
    old = tmp_path / "old"  # a version trained before the reader: its D has none
    Generator(32, p.nz, p.ngf, p.embed).save(old)
    D = Discriminator(32, p.ndf, conditional=True, batchnorm=p.d_batchnorm)
    bundle_json = {k: v for k, v in D.config.items() if k != "reader"}
    (old / "discriminator.json").write_text(json.dumps(bundle_json))
    params = smoke_params.model_copy(
        update={"dcgan": p.model_copy(update={"reader": p.reader.model_copy(update={"width": 4})})}
    )
    rng = np.random.default_rng(0)
    data = SplitData(rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), rng.integers(0, 2, (16, len(GROUPS))))
    world = distributed.World(0, 1, torch.device("cpu"))
    with pytest.raises(BadInput, match="Discriminator differs from these params in reader"):
        _train_one(params, 32, data, world, tmp_path / "ckpt", "transfer", 1, old)


def test_a_bundle_saved_before_cond_bn_existed_still_loads(tmp_path):
    G = Generator(32, 8, 4, 2).eval()
    G.save(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "config.json").read_text())
    del cfg["cond_bn"]
    (tmp_path / "g" / "config.json").write_text(json.dumps(cfg))
    z = torch.randn(2, 8)
    assert torch.equal(Generator.load(tmp_path / "g")(z), G(z))


def test_pca_gaussian_fits_samples_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    model = PcaGaussian.fit(images, 16)
    small = model.truncate(4)
    x = small.sample(10, seed=1)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8 and len(small.std) == 4
    small.save(tmp_path / "pca")
    assert np.array_equal(PcaGaussian.load(tmp_path / "pca").sample(10, seed=1), x)
    with pytest.raises(ValueError, match="not a PCA-Gaussian bundle"):
        PcaGaussian.load(tmp_path)


def test_conditions_prefer_labels_and_fall_back_to_auto_tags():
    k = len(GROUPS)
    tags = {"a": ("generated", np.array([1] + [-1] * (k - 1)))}
    auto = {"a": np.full(k, 0), "b": np.full(k, 1)}
    y, counts = conditions(["a", "b", "c"], tags, auto)
    assert y[0, 0] == 1 and (y[0, 1:] == 0).all() and (y[1] == 1).all() and (y[2] == -1).all()
    assert counts == {"labels": 1, "auto_tags": 2 * k - 1, "unknown": k}


def test_an_untrusted_auto_tag_is_unknown(tmp_path):
    """tags_auto.csv's `trusted:<group>` 0 (under the group's confidence floor): the group is unknown (-1), not the
    tagger's guess; a file without those columns is refused (the tagger stage writes them)."""
    from models.dcgan.conditions import read_auto_tags

    path = tmp_path / "tags_auto.csv"
    values = [ATTRIBUTES[g][1] for g in GROUPS]
    trusted = [1] * len(GROUPS)
    trusted[GROUPS.index("smile")] = 0
    header = ["id", *GROUPS, *(f"trusted:{g}" for g in GROUPS)]
    path.write_text(",".join(header) + "\n" + ",".join(["a", *values, *map(str, trusted)]) + "\n")
    got = read_auto_tags(path)["a"]
    assert got[GROUPS.index("smile")] == -1 and all(got[k] == 1 for k in range(len(GROUPS)) if GROUPS[k] != "smile")
    path.write_text(",".join(["id", *GROUPS]) + "\n" + ",".join(["a", *values]) + "\n")
    with pytest.raises(ValueError, match="trusted:hair_color"):
        read_auto_tags(path)


def test_the_end_of_run_recalibration_feeds_the_generator_on_its_own_device():
    """On a GPU the EMA generator lives on the device while the latents are drawn on the CPU: the recalibration must
    move them there (it did not, and every GPU run failed at its end). A generator whose weights are on `meta`
    stands in for the GPU and records the device of what it is fed."""

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(1, device="meta"))
            self.seen: list[str] = []

        def forward(self, z, cond=None):
            self.seen += [t.device.type for t in (z, cond) if t is not None]

    task, spy = _task(), Spy()
    task.finish(spy, torch.Generator().manual_seed(0))
    assert spy.seen and set(spy.seen) == {"meta"}


def test_the_transfer_study_is_skipped_with_its_reason_when_a_split_lacks_the_tag():
    """An untagged collection whose auto-tags are rarely trusted may have too few images of the transfer tag: the
    generator still trains, and the figures say why the transfer study did not run."""
    from models.dcgan.family import SplitData, transfer_shortfall

    k = GROUPS.index("glasses")
    labels = np.full((10, len(GROUPS)), -1, np.int64)
    labels[:6, k] = 0  # six train images with glasses=no, the others unknown
    d = {s: SplitData(np.zeros((10, 8, 8, 3), np.uint8), labels.copy()) for s in ("train", "val", "test")}
    assert transfer_shortfall("glasses=no", d) is None
    d["val"].labels[:3, k] = 1
    assert transfer_shortfall("glasses=no", d) == "dcgan.transfer.tag glasses=no: only 3 val images have it (4 needed)"
