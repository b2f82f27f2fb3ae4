"""The tagger's labels come from the label stage's tags.csv: a human label overrides or adds, origins are counted,
an unknown id is unlabelled, a bad value is an error naming the file."""

from __future__ import annotations

import pytest

from core.names import GROUPS
from models.tagger.labels import count_by_origin, labels_for, read_tags


def test_tags_csv_to_labels(tmp_path):
    path = tmp_path / "tags.csv"
    header = "id,source," + ",".join(GROUPS) + ",hat\n"
    path.write_text(
        header
        + "a,generated,pink,short,blue,yes,no,no,\n"
        + "b,label-studio,,long,,,yes,,yes\n"  # an annotator gave two groups (and an extra group the tagger ignores)
        + "c,dir:/x,blonde,,,,,,\n"
    )
    tags = read_tags(path)
    y, origins = labels_for(["a", "b", "c", "zzz"], tags)
    assert origins == ["generated", "label_studio", "source", "none"]
    assert (y[3] == -1).all() and (y[0] >= 0).all()
    assert y[1].tolist() == [-1, 2, -1, -1, 1, -1]  # hair_length=long (short, medium, long), smile=yes
    assert count_by_origin(origins) == {"generated": 1, "source": 1, "label_studio": 1}

    path.write_text(header + "a,generated,plaid,short,blue,yes,no,no,\n")
    with pytest.raises(ValueError, match="hair_color='plaid'"):
        read_tags(path)
    path.write_text("id,source,hair_color\na,generated,pink\n")
    with pytest.raises(ValueError, match="no column"):
        read_tags(path)
