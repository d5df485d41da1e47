"""What the studio runs on, found without importing torch (which costs seconds at start).

CUDA is read from `nvidia-smi` when it is there; the job children use torch itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass


@dataclass
class DeviceInfo:
    kind: str  # "cuda" or "cpu"
    name: str
    total_bytes: int
    free_bytes: int
    cores: int

    def describe(self) -> str:
        gib = 1024**3
        if self.kind == "cuda":
            return f"CUDA · {self.name} · {self.free_bytes / gib:.1f} GiB free of {self.total_bytes / gib:.1f} GiB"
        return f"CPU · {self.cores} cores · {self.free_bytes / gib:.1f} GiB RAM free"

    def to_dict(self) -> dict:
        return {**asdict(self), "description": self.describe()}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def detect_device() -> DeviceInfo:
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            first = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
            if first:
                name, total, free = (x.strip() for x in first.split(","))
                mib = 1024 * 1024
                return DeviceInfo("cuda", name, int(float(total)) * mib, int(float(free)) * mib, os.cpu_count() or 1)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    import psutil

    vm = psutil.virtual_memory()
    return DeviceInfo("cpu", _cpu_name(), vm.total, vm.available, os.cpu_count() or 1)
