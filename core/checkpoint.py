"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON, written atomically.

A training loop saves (model, optimizer, scheduler, RNG, epoch) after every epoch under a key that digests what the
run depends on (params, data hash, seed, role); after a crash the same run resumes from the last complete epoch, and
a run with different inputs never picks up a stranger's checkpoint. `clear` removes it when training is done.

The adversarial engine (models/engine/gan.py) keeps several networks and optimizers per run and a checkpoint every N
steps: `save_state` / `load_latest` write numbered states `step-<n>` into one folder and keep the last K of them.

A state is two files (tensors, JSON) that make one unit: both carry the same random `pair` tag (the safetensors
header's metadata and the JSON), written and flushed to disk before either is renamed into place. A crash between the
two renames leaves new tensors beside an old JSON (or the reverse); their tags differ, and the pair is read as
damaged: `load` starts over, `load_latest` falls back to the state before. Never a resume with mismatched state.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core.atomic import fsync_path

ROOT = Path(".cache/checkpoints")


def key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _paths(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def pack_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as tensors (named `<prefix>.<param id>.<key>`) and a JSON document (groups, scalars)."""
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, state in opt["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v) and v.dim() > 0:
                tensors[f"{prefix}.{pid}.{k}"] = v.contiguous()
            else:
                # a 0-d tensor (Adam's step) keeps its dtype: a resumed run must compute what an unbroken one does
                scalars[f"{pid}.{k}"] = [float(v), str(v.dtype).removeprefix("torch.")] if torch.is_tensor(v) else v
    return tensors, {"groups": opt["param_groups"], "scalars": scalars}


def unpack_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, doc: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + "."):
            _, pid, name_ = k.split(".", 2)
            state.setdefault(int(pid), {})[name_] = v
    for k, v in doc["scalars"].items():
        pid, name_ = k.split(".", 1)
        if isinstance(v, list):
            v = torch.tensor(v[0], dtype=getattr(torch, v[1]))
        state.setdefault(int(pid), {})[name_] = v
    optimizer.load_state_dict({"state": state, "param_groups": doc["groups"]})


def _write_pair(st: Path, js: Path, tensors: dict[str, torch.Tensor], doc: dict) -> None:
    tmp_st, tmp_js = st.with_suffix(".safetensors.tmp"), js.with_suffix(".json.tmp")
    tag = secrets.token_hex(8)
    save_file(tensors, str(tmp_st), metadata={"pair": tag})
    tmp_js.write_text(json.dumps({**doc, "pair": tag}, default=float))
    fsync_path(tmp_st)
    fsync_path(tmp_js)
    os.replace(tmp_st, st)  # tensors first: a json without its tensors is never read as complete
    os.replace(tmp_js, js)
    fsync_path(st.parent)


def _read_pair(st: Path, js: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, doc) of one unit; ValueError when the two files are not of the same write."""
    doc = json.loads(js.read_text())
    with safe_open(str(st), framework="pt") as f:
        tag = (f.metadata() or {}).get("pair")
    if tag is None or doc.get("pair") != tag:
        raise ValueError(f"{st.name} and {js.name} are not one checkpoint (a write was cut between them)")
    return load_file(str(st)), doc


def save_state(folder: Path, step: int, tensors: dict[str, torch.Tensor], doc: dict, keep: int) -> Path:
    """Write state `step-<step>` atomically into `folder`, then remove all but the newest `keep` states."""
    folder.mkdir(parents=True, exist_ok=True)
    st, js = _paths(folder, f"step-{step:09d}")
    _write_pair(st, js, {k: v.detach().contiguous() for k, v in tensors.items()}, doc)
    for old in sorted(folder.glob("step-*.json"))[:-keep]:
        for p in _paths(folder, old.stem):
            p.unlink(missing_ok=True)
    return js


def load_latest(folder: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(tensors, doc) of the newest complete state in `folder`, skipping damaged ones; None when there is none."""
    for js in sorted(folder.glob("step-*.json"), reverse=True):
        st = js.with_suffix(".safetensors")
        try:
            return _read_pair(st, js)
        except (OSError, ValueError, SafetensorError):
            continue  # a damaged newest state: fall back to the one before
    return None


def save(
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    meta: dict,
    folder: Path | None = None,
) -> None:
    folder = folder or ROOT
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, opt_doc = pack_optimizer("opt", optimizer)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    doc = {
        "meta": meta,
        "optimizer": opt_doc,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    _write_pair(*_paths(folder, name), tensors, doc)


def load(
    name: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, folder: Path | None = None
) -> dict | None:
    """Restore a checkpoint into the objects; returns its meta, or None when there is none (or it is damaged)."""
    st, js = _paths(folder or ROOT, name)
    if not (st.exists() and js.exists()):
        return None
    try:
        tensors, doc = _read_pair(st, js)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        unpack_optimizer("opt", optimizer, tensors, doc["optimizer"])
        if scheduler is not None and doc["scheduler"] is not None:
            scheduler.load_state_dict(doc["scheduler"])
        torch.set_rng_state(tensors["rng.torch"])
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
        return None  # a damaged checkpoint (or one of an older layout): start over
    return doc["meta"]


def clear(name: str, folder: Path | None = None) -> None:
    for p in _paths(folder or ROOT, name):
        p.unlink(missing_ok=True)


def clear_states(folder: Path) -> None:
    """Remove a run's numbered states and its sample grids (models/engine/plots.py; once its result is stored) and
    the folder when nothing else is in it."""
    for p in list(folder.glob("step-*")):
        p.unlink(missing_ok=True)
    if (folder / "grids").is_dir():
        shutil.rmtree(folder / "grids")
    if folder.exists() and not any(folder.iterdir()):
        folder.rmdir()
