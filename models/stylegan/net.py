"""StyleGAN2-style networks (Karras et al. 2020), small enough for a CPU at 32 px and sized by the resolution.

Generator:
- **Mapping** z -> w: z normalised to unit RMS (pixel norm), then `mapping` fully connected layers with leaky ReLU,
  their learning rate scaled by 0.01 (equalised learning rate with a multiplier, as in StyleGAN). `w_avg` follows
  the mean w during training (a buffer): truncation `psi` pulls w towards it (w_avg + psi (w - w_avg)).
- **Synthesis** from a learned 4x4 constant: per resolution two 3x3 convolutions **modulated** by an affine map of w
  (per input channel) and **demodulated** (each output channel's weights rescaled to unit norm per sample; computed
  in StyleGAN2's non-fused form, input scaled, one shared convolution, output scaled), the first
  with 2x upsampling; **noise inputs** (one per convolution, per-pixel Gaussian noise scaled by a learned per-layer
  strength); leaky ReLU with gain sqrt(2); skip architecture: a modulated 1x1 toRGB per resolution (no
  demodulation), the RGB images upsampled and summed.
- **Style mixing**: G(z, z2, mix_at) uses w(z) for the first `mix_at` style inputs and w(z2) for the rest.
Every weight uses the equalised learning rate (stored N(0, 1), scaled by He's constant at run time).

This unconditional generator is what `anime-stylegan` versions registered before the conditional route hold (loaded
by the service and the evaluate stage); the family now trains models/stylegan/conditional.py's subclass, against
DCGAN's discriminator.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from models.engine import bundle

MODEL = "anime-stylegan"


def _channels(res: int, base: int, cap: int) -> int:
    """Channels at resolution `res`: base * 32 / res, at most `cap` (more channels where the maps are small)."""
    return min(cap, max(8, base * 32 // res))


class EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale, self.lr_mul = lr_mul / math.sqrt(cin), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.pad = 1 / math.sqrt(cin * k * k), k // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class ModConv(nn.Module):
    """A modulated (and optionally demodulated) convolution, grouped over the batch."""

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.affine = EqLinear(w_dim, cin, bias_init=1.0)  # styles start at 1: an unmodulated convolution
        self.scale, self.pad, self.demodulate, self.up = 1 / math.sqrt(cin * k * k), k // 2, demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """StyleGAN2's non-fused form: scale the input channels by the style, one shared convolution, then scale the
        output channels by the demodulation coefficients (the same maths as modulating the weights per sample, and
        much faster on a CPU than a convolution grouped over the batch)."""
        s = self.affine(w)  # [B, cin]
        weight = self.weight * self.scale
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * s[:, :, None, None], weight, padding=self.pad)
        if self.demodulate:  # 1 / |w * s| per (sample, output channel)
            d = torch.rsqrt(s.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)  # [B, cout]
            out = out * d[:, :, None, None]
        return out


class StyleLayer(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, up: bool = False):
        super().__init__()
        self.conv = ModConv(cin, cout, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_gen: torch.Generator | None) -> torch.Tensor:
        x = self.conv(x, w)
        b, _, h, wd = x.shape
        noise = (
            torch.randn(b, 1, h, wd, generator=noise_gen, device=x.device)
            if noise_gen
            else torch.randn(b, 1, h, wd, device=x.device)
        )
        return _act(x + self.noise_strength * noise + self.bias.view(1, -1, 1, 1))


class Generator(nn.Module):
    conditional = False  # models/stylegan/conditional.py's generator is

    def __init__(
        self, size: int = 32, z_dim: int = 128, w_dim: int = 128, mapping: int = 4, base: int = 128, cap: int = 256
    ):
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two of at least 8; got {size}")
        self.config = {"size": size, "z_dim": z_dim, "w_dim": w_dim, "mapping": mapping, "base": base, "cap": cap}
        self.z_dim, self.w_dim = z_dim, w_dim
        layers: list[nn.Module] = []
        for i in range(mapping):
            layers += [EqLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=0.01)]
        self.mapping = nn.ModuleList(layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))
        c4 = _channels(4, base, cap)
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))
        self.layers = nn.ModuleList([StyleLayer(c4, c4, w_dim)])
        self.to_rgb = nn.ModuleList([ModConv(c4, 3, 1, w_dim, demodulate=False)])
        self.rgb_bias = nn.ParameterList([nn.Parameter(torch.zeros(3))])
        res, cin = 4, c4
        while res < size:
            res *= 2
            c = _channels(res, base, cap)
            self.layers.extend([StyleLayer(cin, c, w_dim, up=True), StyleLayer(c, c, w_dim)])
            self.to_rgb.append(ModConv(c, 3, 1, w_dim, demodulate=False))
            self.rgb_bias.append(nn.Parameter(torch.zeros(3)))
            cin = c
        self.num_ws = len(self.layers) + 1  # style inputs: every layer, and the last toRGB

    def map(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """z [B, z_dim] -> w [B, w_dim], truncated towards w_avg by psi."""
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.mapping:
            x = _act(layer(x))
        return x if psi == 1.0 else self.w_avg + psi * (x - self.w_avg)

    def synthesis(self, ws: torch.Tensor, noise_gen: torch.Generator | None = None) -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, 3, size, size] (about [-1, 1])."""
        x = self.const.expand(len(ws), -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise_gen)
        rgb = self.to_rgb[0](x, ws[:, 1]) + self.rgb_bias[0].view(1, -1, 1, 1)
        i = 1
        for k in range(1, len(self.to_rgb)):
            x = self.layers[i](x, ws[:, i], noise_gen)
            x = self.layers[i + 1](x, ws[:, i + 1], noise_gen)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = rgb + self.to_rgb[k](x, ws[:, i + 2]) + self.rgb_bias[k].view(1, -1, 1, 1)
            i += 2
        return rgb

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(
        self,
        z: torch.Tensor,
        z2: torch.Tensor | None = None,
        mix_at: torch.Tensor | None = None,
        psi: float = 1.0,
        noise_gen: torch.Generator | int | None = None,
    ) -> torch.Tensor:
        """Images from z (style-mixed with z2 from style input mix_at on, per sample). Noise: from torch's global
        generator (training, which the engine's checkpoints keep), a generator, or a seed (a fresh generator per
        call: the engine's sample grids use one, so drawing them never moves the training's random stream)."""
        if isinstance(noise_gen, int):
            noise_gen = torch.Generator(device=z.device).manual_seed(noise_gen)
        w = self.map(z, psi)
        if self.training:
            with torch.no_grad():  # the mean w, followed as StyleGAN does (beta 0.995)
                self.w_avg.lerp_(w.detach().mean(dim=0).to(self.w_avg.dtype), 0.005)
        ws = self.broadcast(w)
        if z2 is not None and mix_at is not None:  # style mixing: w(z2) from layer mix_at on (per sample)
            ws2 = self.broadcast(self.map(z2, psi))
            later = torch.arange(self.num_ws, device=z.device)[None, :, None] >= mix_at.view(-1, 1, 1)
            ws = torch.where(later, ws2, ws)
        return self.synthesis(ws, noise_gen)

    def save(self, folder: str | os.PathLike[str], extra: dict | None = None) -> None:
        bundle.save(self, folder, {**self.config, **(extra or {})})

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Generator:
        keys = ("size", "z_dim", "w_dim", "mapping", "base", "cap")
        return bundle.load(folder, lambda c: cls(*(c[k] for k in keys)), "stylegan")[0]
