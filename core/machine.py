"""Which kind of machine a measurement ran on: torch's CPU capability and the CPU's vendor, e.g. `AVX512-Intel`.

Each kind picks its own kernels (AVX2 or AVX-512, and an AMD and an Intel AVX-512 machine differ as well), so float
results of one seed differ between kinds from the first step, and so do timings. Benches record it beside their
figures and key full-length runs by it.
"""

from __future__ import annotations

from pathlib import Path

import torch

_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}


def kind(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """`<capability>-<vendor>` (`AVX2-AMD`, `AVX512-Intel`), the capability alone where the vendor is unknown."""
    vendor = ""
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("vendor_id"):
                vendor = _VENDORS.get(line.split(":", 1)[1].strip(), "")
                break
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability}-{vendor}" if vendor else capability


def bf16_native(device: torch.device | str = "cpu", cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether `device` computes bf16 in hardware: CUDA, or a CPU with AVX-512 BF16 or AMX (oneDNN's bf16 kernels).
    Elsewhere bf16 is emulated and far slower than fp32 (51x on a 2-core AVX2 machine, bench/train_step.py)."""
    if torch.device(device).type == "cuda":
        return True
    if not cpuinfo.exists():
        return False
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def describe() -> str:
    """The device and thread count a run used: the GPU's name, or `cpu <kind>, <n> threads`."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu {kind()}, {torch.get_num_threads()} threads"


def gpu_kind(name: str) -> str:
    """A GPU's model word, the machine kind's counterpart in a result's name: its first word with a digit, `H100` of
    "NVIDIA H100 80GB HBM3", `4090` of "NVIDIA GeForce RTX 4090"; "" where the name has none."""
    words = [w for w in name.split() if any(c.isdigit() for c in w)]
    return words[0] if words else ""
