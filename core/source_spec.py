"""A source spec (an `ingest.sources` entry's `spec`), parsed once: the one function that turns the text a user writes
into a kind and an argument.

    generated                                  the built-in generated set
    generated:<name>                           another generated set (its own characters, count and style)
    dir:<path>                                 a local folder
    zip:<path>                                 a local zip
    kaggle:<owner>/<dataset>[/versions/<N>]    a Kaggle data set

Params validation calls it (a wrong spec fails on load, with the key), and dataset/sources.py keys its registry of
source kinds by `SourceSpec.kind`. It lives in core/ because both need it and core imports nothing above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # a generated set's name: a folder name anywhere

FORMS = {
    "generated": "generated[:<name>]",
    "dir": "dir:<path>",
    "zip": "zip:<path>",
    "kaggle": "kaggle:<owner>/<dataset>[/versions/<N>]",
}


@dataclass(frozen=True)
class SourceSpec:
    text: str  # as written
    kind: str  # a key of FORMS
    arg: str  # the path, the Kaggle handle, or a generated set's name ("" for the built-in set)

    @property
    def path(self) -> Path:
        return Path(self.arg).expanduser()


def parse_spec(text: str) -> SourceSpec:
    """The spec's kind and argument; ValueError naming the forms expected for anything else."""
    if text == "generated":
        return SourceSpec(text, "generated", "")
    kind, sep, arg = text.partition(":")
    if kind == "generated" and NAME.fullmatch(arg):
        return SourceSpec(text, kind, arg)
    if not sep or kind not in FORMS or kind == "generated" or not arg:
        raise ValueError(f"source {text!r}: expected one of {', '.join(repr(f) for f in FORMS.values())}")
    return SourceSpec(text, kind, arg)
