"""A network as a safe bundle: `model.safetensors` (the state dict) + `config.json` (what rebuilds it). No pickle."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from safetensors.torch import load_file, save_file
from torch import nn


def save(net: nn.Module, folder: str | os.PathLike[str], config: dict) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")


def read_config(folder: str | os.PathLike[str]) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def load_weights(net: nn.Module, folder: str | os.PathLike[str]) -> None:
    net.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))


Net = TypeVar("Net", bound=nn.Module)


def load(folder: str | os.PathLike[str], build: Callable[[dict], Net], kind: str) -> tuple[Net, dict]:
    """(network in eval mode, its config): `build(config)` makes the network (raising ValueError when the config
    does not fit this code), then the weights are loaded. Anything wrong is one ValueError naming the folder."""
    try:
        config = read_config(folder)
        net = build(config)
        load_weights(net, folder)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise ValueError(f"{folder}: not a {kind} bundle ({err})") from None
    return net.eval(), config


def save_tensors(net: nn.Module, path: str | os.PathLike[str]) -> None:
    """A second network of a bundle (a GAN's discriminator, kept for fine-tuning) beside its model.safetensors."""
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def load_tensors(path: str | os.PathLike[str]) -> dict:
    return load_file(str(path))
