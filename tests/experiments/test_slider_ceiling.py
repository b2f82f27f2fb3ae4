"""The sliders' ceiling study (experiments/slider_ceiling.py): its one-attribute pairs and the rule it applies.

A reader that knows the truth of every image it is shown must score the renderer's pairs 1.0 on every slider (the
pairs change exactly the slider's attribute); a reader that reads one group wrongly on moved images must lose
every move."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np

from core.names import ATTRIBUTES, GROUPS
from experiments.slider_ceiling import ceiling, judge_identity, moves, pairs, route


class TruthReader:
    """Reads each image as the attributes it was drawn with (a lookup by its bytes), optionally wrong on one group
    of every moved image."""

    def __init__(self, known: dict[bytes, np.ndarray], spoil: str | None = None, starts: set[bytes] = frozenset()):
        self.known, self.spoil, self.starts = known, spoil, starts

    def read(self, images: np.ndarray):
        rows = []
        for im in images:
            key = hashlib.sha256(im.tobytes()).digest()
            row = self.known[key].copy()
            if self.spoil and key not in self.starts:
                col = GROUPS.index(self.spoil)
                row[col] = (row[col] + 1) % len(ATTRIBUTES[self.spoil])
            rows.append(row)
        rows = np.stack(rows)
        return np.zeros((len(images), 1)), {g: rows[:, i] for i, g in enumerate(GROUPS)}


def _known(starts: np.ndarray, truth: np.ndarray, moved: dict[str, np.ndarray]) -> dict[bytes, np.ndarray]:
    known = {hashlib.sha256(im.tobytes()).digest(): t for im, t in zip(starts, truth, strict=True)}
    for key, images in moved.items():
        group, value = key.split("=")
        for im, t in zip(images, truth, strict=True):
            t2 = t.copy()
            t2[GROUPS.index(group)] = ATTRIBUTES[group].index(value)
            known.setdefault(hashlib.sha256(im.tobytes()).digest(), t2)
    return known


def test_a_reader_that_knows_the_truth_scores_the_renderer_one(smoke_params):
    size = smoke_params.generated.render_size
    starts, truth, moved = pairs(smoke_params, 24, 5)
    assert starts.shape == (24, size, size, 3) and truth.shape == (24, len(GROUPS))
    assert set(moved) == {f"{g}={v}" for _, g, _, _, v in moves()}
    for key, images in moved.items():  # a move to the value a character already has is the same image
        group, value = key.split("=")
        same = truth[:, GROUPS.index(group)] == ATTRIBUTES[group].index(value)
        assert (~same).any(), key
        assert all(np.array_equal(a, b) for a, b in zip(images[same], starts[same], strict=True)), key
        assert not any(np.array_equal(a, b) for a, b in zip(images[~same], starts[~same], strict=True)), key
    show = route("32")
    assert show(starts).shape == (24, 32, 32, 3)
    known = _known(show(starts), truth, {k: show(v) for k, v in moved.items()})
    perfect = ceiling(TruthReader(known), starts, truth, moved, show)
    assert perfect["ceiling"] == 1.0 and set(perfect["ceiling_by_tag"].values()) == {1.0}
    assert set(perfect["accuracy_on_starts"].values()) == {1.0}
    assert set(perfect["changed_when_another_group_moves"].values()) == {0.0}

    starts_keys = {hashlib.sha256(im.tobytes()).digest() for im in show(starts)}
    spoilt = ceiling(TruthReader(known, "smile", starts_keys), starts, truth, moved, show)
    # smile read wrong on every moved image: another slider's move changes a reading, smile's own never crosses
    assert set(spoilt["ceiling_by_tag"].values()) == {0.0} and spoilt["ceiling"] == 0.0
    differ = [  # a move to the value a character has already is its start image, read as the start
        float(np.mean([not np.array_equal(a, b) for a, b in zip(moved[f"{g}={v}"], starts, strict=True)]))
        for _, g, _, _, v in moves()
        if g != "smile"
    ]
    assert spoilt["changed_when_another_group_moves"]["smile"] == round(float(np.mean(differ)), 4)
    assert spoilt["changed_when_another_group_moves"]["glasses"] == 0.0


def test_the_result_names_the_judge_it_read(tmp_path):
    (tmp_path / "tagger.json").write_text(json.dumps({"tagger": {"judge": {"val_macro_f1": 0.964, "macro_f1": 0.9}}}))
    assert judge_identity(SimpleNamespace(flip=True), tmp_path) == {"read_flip": True, "val_macro_f1": 0.964}
    assert judge_identity(SimpleNamespace(flip=False), tmp_path / "none") == {"read_flip": False, "val_macro_f1": None}
