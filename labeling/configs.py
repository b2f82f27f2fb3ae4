"""The Label Studio labeling configs, built from the names the whole pipeline shares.

    python -m labeling.configs      # rewrites labeling/pose.xml and labeling/tags.xml (committed; tests compare)

- Pose: one KeyPointLabels over the 11 joints in the order of dataset/skeleton.JOINTS, each with a hotkey
  (1-9, 0, then q), a colour, and placed at most once (`maxUsages`), on the image `$image`; a per-region
  `visibility` choice shown for the selected point (visible s, occluded c; nothing chosen means visible); and a
  task-level `out_of_frame` box per joint for a joint outside the picture, which has no point to click (keys
  OUT_OF_FRAME_HOTKEYS). Every choice has a hotkey of its own: Label Studio gives one to any choice without, from
  its own list, which holds its tools' keys (v, b, e...). labeling/labels.py reads both (docs/labeling.md).
- Tags: one single-choice Choices per attribute group (dataset/attributes.ATTRIBUTES plus `label.extra_groups` from
  params.yaml), every choice with its own hotkey (TAG_HOTKEYS, in order; the value's key is shown on its button), and
  an `unsure` box: an annotation with it ticked is left out and the task goes back to the queue for another
  annotator (labeling/labels.py, labeling/push.py), on the image `$image`.

Each project also gets its instructions (INSTRUCTIONS, shown before the first task and from the labeling view's
info button) and `Uncertainty sampling`: Label Studio hands out the tasks whose pre-annotation has the lowest
`score` first, the score being the champion model's confidence (project_settings).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import quoteattr

from core.names import ATTRIBUTES, VISIBILITY
from synth.pose.skeleton import JOINTS

HERE = Path(__file__).resolve().parent
POSE_XML = HERE / "pose.xml"
TAGS_XML = HERE / "tags.xml"

POSE_CONTROL = "joints"
TAG_IMAGE = POSE_IMAGE = "image"
HOTKEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "q")
VISIBILITY_CONTROL = "visibility"  # the per-region choice on a joint's point
OUT_OF_FRAME_CONTROL = "out_of_frame"  # the task-level boxes for joints that have no point
# core/names.VISIBILITY is in the order of the codes models/pose/labels.py uses (0, 1, 2); the default is the first
POINT_VISIBILITY = VISIBILITY[:2]  # what a placed point can say; out of frame is the boxes' (it has no point)
# "seen", "covered"; then the out-of-frame boxes' in the order of JOINTS: the single keys left once the joints' and
# Label Studio's own (its tools' h, o, e, m, k, w, p, r, v, b; u for regions; z beside ctrl+z) are taken
VISIBILITY_HOTKEYS = {"visible": "s", "occluded": "c"}
OUT_OF_FRAME_HOTKEYS = tuple("adfgijlntxy")
UNSURE = "unsure"  # the tags project's box for "I cannot tell": the annotation is left out and the task re-queued
UNSURE_HOTKEY = "n"  # "not sure"
# the tag choices' hotkeys, in order of the groups and their values; none of Label Studio's own single keys (its
# tools' v, b, e, k, r, o, p; u and h for regions; z) nor the unsure box's n; beyond these, a choice has no hotkey
TAG_HOTKEYS = tuple("1234567890qwtyiasdfgjlxcm")
INSTRUCTIONS = {
    "pose": (
        "<p>Click each of the 11 joints once (its hotkey, then the image). <b>left_*</b> is the character's own "
        "left: on the image's right when the character faces you. A joint hidden behind something: place it where "
        "it must be, then, with the point selected, press <b>c</b> (occluded). A joint outside the picture: tick it "
        "under <b>Out of frame</b> (the key on its box) and place no point; a guessed point left for it is ignored. "
        "A point with no choice counts as visible (<b>s</b>). The champion posenet's guess is pre-filled: move what is wrong.</p>"
    ),
    "tags": (
        "<p>Pick one value per group (the key on each button picks it). The champion tagger's guess is pre-filled: "
        "change what is wrong. If you cannot tell a group from the picture, tick <b>unsure</b> (n): your "
        "annotation is then left out and the image goes to another annotator.</p>"
    ),
}


def project_settings(kind: str) -> dict:
    """Label Studio project fields every project of `kind` gets (on creation, and kept current by the push)."""
    return {"expert_instruction": INSTRUCTIONS[kind], "show_instruction": True, "sampling": "Uncertainty sampling"}


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
        f'    <Label value={quoteattr(j)} hotkey={quoteattr(k)} background={quoteattr(JOINT_COLORS[j])} maxUsages="1"/>'
        for j, k in zip(JOINTS, HOTKEYS)
    )
    seen = "\n".join(
        f"    <Choice value={quoteattr(v)} hotkey={quoteattr(VISIBILITY_HOTKEYS[v])}/>" for v in POINT_VISIBILITY
    )
    outside = "\n".join(
        f"    <Choice value={quoteattr(j)} hotkey={quoteattr(k)}/>" for j, k in zip(JOINTS, OUT_OF_FRAME_HOTKEYS)
    )
    return f"""<View>
  <Header value="Click each of the 11 joints in the picture once. left_* is the character's own left (on the image's right when it faces you)."/>
  <KeyPointLabels name="{POSE_CONTROL}" toName="{POSE_IMAGE}" strokeWidth="2" opacity="0.9">
{labels}
  </KeyPointLabels>
  <Image name="{POSE_IMAGE}" value="$image" zoom="true" zoomControl="true"/>
  <Choices name="{VISIBILITY_CONTROL}" toName="{POSE_IMAGE}" perRegion="true" visibleWhen="region-selected" choice="single" showInline="true">
{seen}
  </Choices>
  <Header value="Out of frame: joints outside the picture (place no point for them)"/>
  <Choices name="{OUT_OF_FRAME_CONTROL}" toName="{POSE_IMAGE}" choice="multiple" showInline="true">
{outside}
  </Choices>
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
    keys = iter(TAG_HOTKEYS)
    for g, values in tag_groups(extra).items():
        choices = "\n".join(
            f"    <Choice value={quoteattr(v)}" + (f" hotkey={quoteattr(k)}" if (k := next(keys, None)) else "") + "/>"
            for v in values
        )
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
  <Choices name="{UNSURE}" toName="{TAG_IMAGE}" choice="multiple" showInline="true">
    <Choice value="{UNSURE}" hotkey="{UNSURE_HOTKEY}"/>
  </Choices>
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
