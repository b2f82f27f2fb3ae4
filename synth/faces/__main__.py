"""The generated face set from the command line: a folder in the imported-folder layout, or a contact sheet.

    python -m synth.faces --out /tmp/faces --count 500            # a folder in the imported-folder layout (source.py)
    python -m synth.faces --contact-sheet docs/contact_sheet.png  # 8x8 faces, one view of each of 64 characters

It sits above both render.py (the renderer) and source.py (the folder writer, which imports the renderer), so neither
of them imports the other back.
"""

from __future__ import annotations

import argparse

from core.errors import run_main
from core.params import load_params
from core.png import write_png
from synth.faces.render import render_index
from synth.faces.source import write_generated_source
from synth.sheet import tile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", help="write a folder in the imported-folder layout here")
    ap.add_argument("--count", type=int, help="images (default: generated.count of params)")
    ap.add_argument("--contact-sheet", help="write an 8x8 contact sheet PNG here")
    args = ap.parse_args()
    params = load_params(args.params)
    gp = params.generated if args.count is None else params.generated.model_copy(update={"count": args.count})
    if args.contact_sheet:
        # One view of each of 64 characters, so the sheet shows the spread of attributes.
        ims = [render_index(i * gp.views_per_character, params.seed, gp)[0] for i in range(64)]
        write_png(args.contact_sheet, tile(ims, pad=2))
    if args.out:
        write_generated_source(args.out, gp, params.seed, workers=params.ingest.workers)


if __name__ == "__main__":
    run_main(main, "facegen")
