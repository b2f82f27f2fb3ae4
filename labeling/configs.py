"""The Label Studio labeling configs, built from the names the whole pipeline shares.

    python -m labeling.configs      # rewrites labeling/pose.xml and labeling/tags.xml (committed; tests compare)

- Pose: one KeyPointLabels over the 11 joints in the order of dataset/skeleton.JOINTS, each with a hotkey
  (1-9, 0, then q) and a colour, on the image `$image`.
- Tags: one single-choice Choices per attribute group (dataset/attributes.ATTRIBUTES plus `label.extra_groups` from
  params.yaml), on the image `$image`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import quoteattr

from core.names import ATTRIBUTES
from synth.pose.skeleton import JOINTS

HERE = Path(__file__).resolve().parent
POSE_XML = HERE / "pose.xml"
TAGS_XML = HERE / "tags.xml"

POSE_CONTROL = "joints"
TAG_IMAGE = POSE_IMAGE = "image"
HOTKEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "q")
# the character's left warm, its right cool, the axis purple: as the stick figures
JOINT_COLORS = {
    "head": "#e6007a",
    "neck": "#9600c8",
    "left_shoulder": "#ff7800",
    "right_shoulder": "#0096ff",
    "left_hand": "#e6c800",
    "right_hand": "#005ac8",
    "pelvis": "#6a00a0",
    "left_knee": "#f03c28",
    "right_knee": "#00c8aa",
    "left_foot": "#b41e00",
    "right_foot": "#1e8c3c",
}
TITLES = {
    "hair_color": "Hair colour",
    "hair_length": "Hair length",
    "eye_color": "Eye colour",
    "glasses": "Glasses",
    "smile": "Smile",
    "blush": "Blush",
}


def pose_config() -> str:
    labels = "\n".join(
        f"    <Label value={quoteattr(j)} hotkey={quoteattr(k)} background={quoteattr(JOINT_COLORS[j])}/>"
        for j, k in zip(JOINTS, HOTKEYS)
    )
    return f"""<View>
  <Header value="Click each of the 11 joints once. left_* is the character's own left (on the image's right when it faces you)."/>
  <KeyPointLabels name="{POSE_CONTROL}" toName="{POSE_IMAGE}" strokeWidth="2" opacity="0.9">
{labels}
  </KeyPointLabels>
  <Image name="{POSE_IMAGE}" value="$image" zoom="true" zoomControl="true"/>
</View>
"""


def tag_groups(extra: dict[str, list[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """The attribute groups of the tags project: the pipeline's, plus `extra` (new groups only)."""
    groups = dict(ATTRIBUTES)
    for g, values in (extra or {}).items():
        if g in groups:
            raise ValueError(f"label.extra_groups.{g}: already an attribute group")
        groups[g] = tuple(values)
    return groups


def tags_config(extra: dict[str, list[str]] | None = None) -> str:
    blocks = []
    for g, values in tag_groups(extra).items():
        choices = "\n".join(f"    <Choice value={quoteattr(v)}/>" for v in values)
        title = TITLES.get(g, g.replace("_", " ").capitalize())
        blocks.append(
            f"  <Header value={quoteattr(title)}/>\n"
            f'  <Choices name={quoteattr(g)} toName="{TAG_IMAGE}" choice="single" showInline="true" required="true">\n'
            f"{choices}\n  </Choices>"
        )
    body = "\n".join(blocks)
    return f"""<View>
  <Image name="{TAG_IMAGE}" value="$image" zoom="true"/>
{body}
</View>
"""


def main() -> None:
    from core.params import load_params

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    POSE_XML.write_text(pose_config(), encoding="utf-8")
    TAGS_XML.write_text(tags_config(params.label.extra_groups), encoding="utf-8")
    print(f"wrote {POSE_XML} and {TAGS_XML}")


if __name__ == "__main__":
    main()
