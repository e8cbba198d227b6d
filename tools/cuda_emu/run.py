"""Checks fastlayers' CUDA kernels on a machine without a GPU, by host emulation.

Rewrites each `kernel<<<grid, block, smem, stream>>>(args)` launch of csrc/cuda/activation.cu,
gemm.cu, copy.cu, optim.cu, pool.cu, norm.cu, conv.cu, loss.cu, dropout.cu and those of FAMILIES (and takes memory.cu,
the caching allocator, as it is) into `emu_launch(&kernel, grid, block, args)`, compiles them with g++ against
the emulated runtime here (cuda_runtime_api.h: one fiber per CUDA thread, barriers for
__syncthreads and warp exchanges; cuda/mma_tf32.cuh: the tensor-core fragment layout), and
runs emu_main.cpp, emu_layers.cpp, emu_loss.cpp and emu_<family>.cpp, which compare every kernel with the CPU reference
kernels and check the allocator's buckets, reuse, statistics and out-of-memory retry.

This checks indexing, tiling, edge handling, barriers and the fragment layouts; it says
nothing about performance, and float rounding follows the host's libm, not CUDA's.
Usage: python3 tools/cuda_emu/run.py [gemm|layers|loss|<family>]   (about 30 s; tests/test_cuda_emulation.py runs it)
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Families with one kernel file, one reference file and one check file each (emu_<family>.cpp).
FAMILIES = ("embedding", "layer_norm", "attention", "rnn", "resample")
ROOT = os.path.dirname(os.path.dirname(HERE))


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def rewrite(src):
    def launch(m):
        name, cfg, args = m.group(1), m.group(2), m.group(3)
        grid, block = split_top(cfg)[:2]
        return f"emu_launch(&{name}, dim3({grid}), dim3({block}), {args});"
    return re.sub(r"([A-Za-z_]\w*(?:<[^;()]*?>)?)<<<(.*?)>>>\((.*?)\);", launch, src, flags=re.S)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        kernels = ("activation.cu", "gemm.cu", "copy.cu", "memory.cu", "optim.cu", "pool.cu", "norm.cu", "conv.cu",
                   "loss.cu", "dropout.cu") + tuple(f"{fam}.cu" for fam in FAMILIES)
        for name in kernels:
            with open(os.path.join(ROOT, "csrc", "cuda", name)) as fh:
                text = rewrite(fh.read())
            assert "<<<" not in text, name
            with open(os.path.join(tmp, name.replace(".cu", "_emu.cpp")), "w") as fh:
                fh.write(text)
        exe = os.path.join(tmp, "emu")
        cmd = [os.environ.get("CXX", "g++"), "-std=c++17", "-O2", f"-I{HERE}", f"-I{os.path.join(ROOT, 'csrc')}", f"-I{tmp}",
               "-o", exe, os.path.join(HERE, "emu_main.cpp"), os.path.join(HERE, "emu_layers.cpp"),
               os.path.join(HERE, "emu_loss.cpp")] + [os.path.join(HERE, f"emu_{fam}.cpp") for fam in FAMILIES]
        cmd += [os.path.join(ROOT, "csrc", "cpu", "ref", f"{fam}_ref.cpp")
                for fam in ("activation", "optim", "pool", "norm", "conv", "loss", "dropout") + FAMILIES]
        cmd += [os.path.join(tmp, name.replace(".cu", "_emu.cpp")) for name in kernels]
        subprocess.run(cmd, check=True)
        return subprocess.run([exe] + sys.argv[1:]).returncode


if __name__ == "__main__":
    sys.exit(main())
