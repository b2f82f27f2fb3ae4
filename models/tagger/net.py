"""The tagger CNN: one shared trunk, one softmax head per attribute group, and the feature space generators are
judged in (`fd_tagger`, `kid_tagger`).

Input: float images [B, 3, S, S] in [0, 1] (S = tagger.size, 64 by default). The trunk is four stages of two 3x3
convolutions with batch norm and ReLU (the second stride 2), then global average pooling to a `width * 8`-d feature
vector. Saved as a bundle (config.json + model.safetensors); nothing is pickled.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from core.names import ATTRIBUTES, FIXED, GROUPS, AttributeSchema
from models.engine import bundle

MODEL = "anime-tagger"  # its name in the MLflow registry

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
    def __init__(self, width: int = 24, size: int = 64, dropout: float = 0.1, schema: AttributeSchema = FIXED):
        """`schema`: the groups it has heads for; the tagger's are the six, a DCGAN discriminator's reader has its
        generator's (models/dcgan/net.py)."""
        super().__init__()
        self.config = {
            "width": width,
            "size": size,
            "dropout": dropout,
            "groups": schema.as_config(),
        }
        w = width
        self.trunk = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.feature_dim = 8 * w
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({g: nn.Linear(self.feature_dim, len(v)) for g, v in schema.groups.items()})
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
        def build(config: dict) -> TaggerNet:
            schema = AttributeSchema.recorded(config.get("groups"))
            if schema.extra:  # a tagger reads the six: a reader's heads never load as one
                raise ValueError(f"attribute groups {config['groups']} differ from this code's")
            return cls(config["width"], config["size"], config.get("dropout", 0.0))

        return bundle.load(folder, build, "tagger")[0]


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> uint8 [N, 3, S, S] (converted to float per batch)."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@torch.no_grad()
def predict_proba(net: TaggerNet, x: np.ndarray, batch: int = 512, flip: bool = False) -> dict[str, np.ndarray]:
    """uint8 [N, S, S, 3] -> per group, probabilities [N, classes]; `flip`: the mean of the image's and its mirror's
    (every attribute is left-right symmetric, and the CNN learns with flips)."""
    net.eval()
    parts: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    for i in range(0, len(x), batch):
        xb = to_tensor(x[i : i + batch]).float().div_(255.0).contiguous(memory_format=torch.channels_last)
        probs = net.probabilities(xb)
        if flip:
            mirrored = net.probabilities(xb.flip(3).contiguous(memory_format=torch.channels_last))
            probs = {g: (p + mirrored[g]) / 2 for g, p in probs.items()}
        for g, p in probs.items():
            parts[g].append(p.numpy())
    return {g: np.concatenate(v) if v else np.zeros((0, len(ATTRIBUTES[g])), np.float32) for g, v in parts.items()}


@torch.no_grad()
def extract_features(net: TaggerNet, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """uint8 [N, S, S, 3] -> float64 [N, feature_dim] in the tagger's feature space."""
    net.eval()
    out = [
        net.features(to_tensor(x[i : i + batch]).float().div_(255.0)).double().numpy() for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, net.feature_dim))
