"""Duplicate dropping in source order, fed as decoded files arrive: the first of a picture is kept, every later
exact duplicate (same sha256) or near duplicate (perceptual hash within `ingest.near_duplicate_bits`) is rejected,
naming the kept file it repeats (and its source, when that is another one). The files of every source form one
stream, so a picture that two collections share is kept once. Ingest settles a batch every 256 files, while the
workers go on.
"""

from __future__ import annotations

import numpy as np

from dataset.decoding import Decoded
from dataset.phash import NearDuplicates
from dataset.rejects import Reject

BATCH = 256  # files per settle: large enough to vectorise the pHash search, small enough to overlap the workers


class Dedup:
    """`add` each Decoded in source order, `settle` at the end; then `keep` holds the source index of every kept file
    (ascending) and `rejects` every file rejected, by its worker (decoding) or here (duplicates)."""

    def __init__(self, max_bits: int, specs: list[str] | None = None):
        self.specs = specs  # the source spec of each file, by source index (None: one source, unnamed)
        self.near = NearDuplicates(max_bits)
        self.decoded: list[Decoded] = []
        self.keep: list[int] = []
        self.rejects: list[Reject] = []
        self.first_sha: dict[str, int] = {}
        self.unique: list[int] = []  # source index of each hash given to `near`
        self.done = 0  # files settled

    def add(self, d: Decoded) -> None:
        self.decoded.append(d)
        if len(self.decoded) - self.done >= BATCH:
            self.settle()

    def settle(self) -> None:
        batch = range(self.done, len(self.decoded))
        self.done = len(self.decoded)
        fresh = []
        for i in batch:
            d = self.decoded[i]
            if d.reject_code:
                self.rejects.append(Reject(d.rel, d.reject_code, d.reject, self._spec(i)))
                continue
            prior = self.first_sha.setdefault(d.sha256, i)
            if prior != i:
                why = f"exact duplicate of {self._name(prior, i)}"
                self.rejects.append(Reject(d.rel, "exact_duplicate", why, self._spec(i)))
            else:
                fresh.append(i)
        if not fresh:
            return
        dup_of = self.near.add(np.array([self.decoded[i].phash for i in fresh], np.uint64))
        self.unique.extend(fresh)
        for i, root in zip(fresh, dup_of):
            if root >= 0:
                j = self.unique[root]
                dist = int(np.bitwise_count(np.uint64(self.decoded[i].phash ^ self.decoded[j].phash)))
                why = f"near duplicate of {self._name(j, i)} ({dist} bits)"
                self.rejects.append(Reject(self.decoded[i].rel, "near_duplicate", why, self._spec(i)))
            else:
                self.keep.append(i)

    def _spec(self, i: int) -> str:
        return self.specs[i] if self.specs is not None else ""

    def _name(self, kept: int, i: int) -> str:
        """The kept file `kept` as the reject of file `i` names it: with its source where that is another."""
        rel = self.decoded[kept].rel
        return rel if self._spec(kept) == self._spec(i) else f"{self._spec(kept)}:{rel}"
