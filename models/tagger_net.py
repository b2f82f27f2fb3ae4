"""The tagger CNN: one shared trunk, one softmax head per attribute group, and the feature space generators are
judged in (`fd_tagger`, `kid_tagger`).

Input: float images [B, 3, S, S] in [0, 1] (S = tagger.size, 64 by default). The trunk is four stages of two 3x3
convolutions with batch norm and ReLU (the second stride 2), then global average pooling to a `width * 8`-d feature
vector. Saved as a bundle (config.json + model.safetensors); nothing is pickled.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from dataset.attributes import ATTRIBUTES, GROUPS
from models import bundle

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TaggerNet(nn.Module):
    def __init__(self, width: int = 24, size: int = 64, dropout: float = 0.1):
        super().__init__()
        self.config = {
            "width": width,
            "size": size,
            "dropout": dropout,
            "groups": {g: list(ATTRIBUTES[g]) for g in GROUPS},
        }
        w = width
        self.trunk = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.feature_dim = 8 * w
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({g: nn.Linear(self.feature_dim, len(ATTRIBUTES[g])) for g in GROUPS})
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] in [0, 1] -> [B, feature_dim]: the space of fd_tagger and kid_tagger."""
        if x.shape[-1] != self.config["size"]:
            x = nn.functional.interpolate(x, size=self.config["size"], mode="area")
        return self.trunk((x - self.mean) / self.std).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.drop(self.features(x))
        return {g: head(f) for g, head in self.heads.items()}

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {g: logits.softmax(dim=1) for g, logits in self(x).items()}

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> TaggerNet:
        folder = Path(folder)
        try:
            config = bundle.read_config(folder)
            net = cls(config["width"], config["size"], config.get("dropout", 0.0))
            if config["groups"] != net.config["groups"]:
                raise ValueError(f"attribute groups {config['groups']} differ from this code's")
            bundle.load_weights(net, folder)
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            raise ValueError(f"{folder}: not a tagger bundle ({err})") from None
        return net.eval()
