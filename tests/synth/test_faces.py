"""The generated set: deterministic, every attribute value drawn, and the images really differ by attribute."""

from __future__ import annotations

from collections import Counter

import numpy as np

from core.names import ATTRIBUTES
from synth.faces.render import render_index
from synth.faces.source import write_generated_source


def test_same_seed_same_image_other_seed_other_image(smoke_params):
    p = smoke_params.generated
    a, attrs_a, ch_a = render_index(5, 1, p)
    b, attrs_b, ch_b = render_index(5, 1, p)
    c, _, _ = render_index(5, 2, p)
    assert a.shape == (p.render_size, p.render_size, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and attrs_a == attrs_b and ch_a == ch_b
    assert not np.array_equal(a, c)


def test_views_share_character_attributes(smoke_params):
    p = smoke_params.generated
    views = [render_index(i, 3, p) for i in range(p.views_per_character)]
    assert len({v[2] for v in views}) == 1
    for key in ("hair_color", "hair_length", "eye_color", "glasses"):
        assert len({v[1][key] for v in views}) == 1
    assert not np.array_equal(views[0][0], views[1][0])  # nuisance differs between views


def test_every_attribute_value_occurs(smoke_params):
    p = smoke_params.generated.model_copy(update={"render_size": 32, "supersample": 1})
    counts = {g: Counter() for g in ATTRIBUTES}
    for i in range(0, 600, p.views_per_character):
        _, attrs, _ = render_index(i, 0, p)
        for g, v in attrs.items():
            counts[g][v] += 1
    for g, values in ATTRIBUTES.items():
        assert set(counts[g]) == set(values), (g, counts[g])


def test_hair_colour_changes_the_pixels(smoke_params):
    """Same character style and view with only the hair colour swapped: the image must change (no dead attribute)."""
    from dataclasses import replace

    import numpy as np

    from synth.faces.render import HAIR_HSV, _hsv_rgb, render_view, sample_character

    p = smoke_params.generated
    ch = sample_character(np.random.default_rng(0), p.nuisance)
    other = "green" if ch.hair_color != "green" else "red"
    ch2 = replace(ch, hair_color=other, hair_rgb=_hsv_rgb(*HAIR_HSV[other]))
    a, _ = render_view(ch, [0, 1], 64, 2, p.nuisance)
    b, attrs = render_view(ch2, [0, 1], 64, 2, p.nuisance)
    assert attrs["hair_color"] == other
    assert np.abs(a.astype(int) - b.astype(int)).sum(axis=2).astype(bool).mean() > 0.03


def test_folder_layout(tmp_path, smoke_params):
    p = smoke_params.generated.model_copy(update={"count": 20})
    out = write_generated_source(tmp_path / "gen", p, seed=7, workers=2)
    assert len(list((out / "images").glob("*.png"))) == 20
    lines = (out / "tags.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["file", "character", "hair_color"] and len(lines) == 21
    assert (out / "provenance.json").exists()
    # Same seed, one worker: byte-identical files (determinism across processes).
    again = write_generated_source(tmp_path / "gen2", p, seed=7, workers=1)
    for f in sorted((out / "images").iterdir())[:5]:
        assert f.read_bytes() == (again / "images" / f.name).read_bytes()


def test_one_attribute_changed_keeps_the_rest_of_the_view(smoke_params):
    """with_value and render_view's expression: the same character and view with one attribute changed (the sliders'
    ceiling, experiments/slider_ceiling.py). With a stream per part only the changed part's pixels move; the same
    value gives the same image byte for byte; the data set's own images (one shared stream) are another matter."""
    import pytest

    from synth.faces.render import render_view, sample_character, with_value

    p = smoke_params.generated
    nz, seq = p.nuisance, [9, 1, 4, 0]
    ch = sample_character(np.random.default_rng([9, 0, 4]), nz)

    def view(c, expression=None, parts=True):
        return render_view(c, seq, p.render_size, p.supersample, nz, expression, parts)

    base, attrs = view(ch)
    assert np.array_equal(view(ch, {})[0], base)
    assert np.array_equal(view(with_value(ch, "glasses", ch.glasses, np.random.default_rng(0), nz))[0], base)
    assert np.array_equal(view(ch, {"smile": attrs["smile"]})[0], base)
    assert not np.array_equal(view(ch, parts=False)[0], base)  # another stream layout: another image
    for group, flip in (("glasses", with_value), ("smile", None), ("blush", None)):
        other = "no" if attrs[group] == "yes" else "yes"
        img, got = view(flip(ch, group, other, np.random.default_rng(0), nz)) if flip else view(ch, {group: other})
        assert got[group] == other and {k: v for k, v in got.items() if k != group} == {
            k: v for k, v in attrs.items() if k != group
        }
        changed = np.abs(img.astype(int) - base.astype(int)).max(axis=2) > 2
        assert 0 < changed.mean() < 0.06, (group, changed.mean())  # that part only, not the view
    hair = next(v for v in ATTRIBUTES["hair_color"] if v != ch.hair_color)
    assert with_value(ch, "hair_color", hair, np.random.default_rng(0), nz).hair_color == hair
    with pytest.raises(ValueError):
        with_value(ch, "smile", "yes", np.random.default_rng(0), nz)
    with pytest.raises(ValueError):
        with_value(ch, "hair_color", "plaid", np.random.default_rng(0), nz)
    with pytest.raises(ValueError):
        view(ch, {"glasses": "yes"})


def test_a_style_redraws_the_picture_and_no_style_changes_nothing(smoke_params):
    """synth/faces/style.py: the defaults leave a face as drawn; each setting changes what it names."""
    from core.params import StyleParams
    from synth.faces.style import INK, apply

    img, _, _ = render_index(3, 1, smoke_params.generated)
    assert np.array_equal(apply(img, StyleParams()), img)
    grey = apply(img, StyleParams(saturation=0.0))
    assert np.abs(grey.astype(int) - grey[..., :1].astype(int)).max() <= 1  # R = G = B
    assert set(np.unique(apply(img, StyleParams(levels=2)))) <= {0, 255}
    lum = lambda x: x.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])  # noqa: E731
    thick = apply(img, StyleParams(line_weight=1))
    assert (lum(thick) < INK).sum() > (lum(img) < INK).sum()  # more ink: the lines grew
    assert np.array_equal(thick[lum(img) < INK], img[lum(img) < INK])  # the lines themselves are untouched
    tinted = apply(img, StyleParams(tint=[255, 0, 0], tint_amount=1.0))
    assert (tinted == [255, 0, 0]).all()
