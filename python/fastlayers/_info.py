"""fastlayers.info(): what this build and this machine give the kernels."""
from __future__ import annotations

import platform

from . import _core


POOL = "its own worker threads, csrc/core/parallel.cpp; OMP_NUM_THREADS or set_num_threads sizes it"


def info() -> dict:
    """Version, ISA chosen and available, threads, CUDA build and device status."""
    from . import __version__
    from ._backend.device import probe
    count, reason = probe(_core)  # this machine, also under the host stand-in
    devices = []
    for d in range(count):
        try:
            devices.append(dict(_core.cuda_device_info(d)))
        except RuntimeError as exc:  # report, never fail
            devices.append({"error": str(exc)})
    return {
        "version": __version__,
        "cpu": _core.cpu_name(),
        "machine": platform.machine(),
        "isa": _core.isa_current(),
        "isa_detected": _core.isa_detected(),
        "isa_available": list(_core.isa_available()),
        "threads": _core.get_num_threads(),
        "thread_pool": "fastlayers",  # core/parallel.cpp's own pool; no OpenMP runtime
        "thread_pool_detail": POOL,
        "cuda_built": bool(_core.cuda_built),
        "cuda_available": count > 0,
        "cuda_reason": reason if count == 0 else "",
        "cuda_devices": devices,
    }


def format_info(d: dict) -> str:
    lines = [
        f"fastlayers {d['version']}",
        f"  cpu              {d['cpu']} ({d['machine']})",
        f"  isa              {d['isa']} (available: {', '.join(d['isa_available'])})",
        f"  threads          {d['threads']} ({d['thread_pool']} pool: {d.get('thread_pool_detail', POOL)})",
        f"  cuda kernels     {'built' if d['cuda_built'] else 'not built'}",
    ]
    if d["cuda_available"]:
        for i, dev in enumerate(d["cuda_devices"]):
            if "error" in dev:
                lines.append(f"  gpu {i}            {dev['error']}")
                continue
            mem = dev["total_memory"] / 2**30
            cap = ".".join(str(c) for c in dev["capability"])
            lines.append(f"  gpu {i}            {dev['name']}, {mem:.1f} GiB, sm_{cap.replace('.', '')}")
    else:
        lines.append(f"  gpu              not usable: {d['cuda_reason']}")
    return "\n".join(lines)
