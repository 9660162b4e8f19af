"""The data-parallel scaling model of docs/SCALING.md, as code: projected efficiency of
synchronous data-parallel training (one all-reduce of the gradients per step) at
N = 2..64 workers, from a measured per-image compute time.

    python benchmarks/scaling_model.py [--textbook-ms-per-image 0.9] [--resnet-cpu-ms-per-image 900]

    step(N)       = compute(b) + allreduce(N)            no overlap of the two (conservative)
    compute(b)    = b * t_image                          b = images per worker per step
    allreduce(N)  = 2(N-1)/N * G / BW + 2(N-1) * alpha   ring all-reduce of G gradient bytes
    G             = parameters * 4 bytes                 float32 gradients
    efficiency(N) = compute(b) / step(N)                 1.0 = perfect linear speed-up

Printed as markdown tables (pasted into docs/SCALING.md).
"""

from __future__ import annotations

import argparse

LINKS = {  # name -> (bandwidth in bytes/s, latency per ring step in s)
    "25 GbE": (25e9 / 8, 30e-6),
    "NVLink-class (300 GB/s)": (300e9, 5e-6),
}
WORKERS = (2, 4, 8, 16, 32, 64)
TEXTBOOK_PARAMS = 333_526
RESNET50_PARAMS = 25_636_712


def allreduce_s(n: int, grad_bytes: float, link: str) -> float:
    bandwidth, alpha = LINKS[link]
    return 2 * (n - 1) / n * grad_bytes / bandwidth + 2 * (n - 1) * alpha


def efficiency(n: int, per_worker_batch: float, t_image: float, params: int, link: str) -> float:
    compute = per_worker_batch * t_image
    return compute / (compute + allreduce_s(n, params * 4, link))


def min_batch_for(target: float, n: int, t_image: float, params: int, link: str) -> float:
    """Images per worker per step for efficiency >= target: b*t >= target/(1-target) * allreduce."""
    return target / (1 - target) * allreduce_s(n, params * 4, link) / t_image


def table(title: str, t_image: float, params: int, batches: list[tuple[str, callable]]) -> str:
    lines = [f"**{title}** (t_image = {t_image * 1e3:.3g} ms, G = {params * 4 / 1e6:.1f} MB)", ""]
    head = "| link | per-worker batch | " + " | ".join(f"N={n}" for n in WORKERS) + " |"
    lines += [head, "|" + "---|" * (len(WORKERS) + 2)]
    for link in LINKS:
        for label, batch_of in batches:
            cells = []
            for n in WORKERS:
                b = batch_of(n)
                cells.append("—" if b < 1 else f"{efficiency(n, b, t_image, params, link):.0%}")
            lines.append(f"| {link} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--textbook-ms-per-image", type=float, required=True, help="measured: 1-process step ms / 32")
    p.add_argument("--resnet-cpu-ms-per-image", type=float, required=True, help="measured: ResNet50 step s / batch")
    p.add_argument("--resnet-gpu-images-per-s", type=float, default=2500.0, help="assumed (no GPU here)")
    p.add_argument("--textbook-gpu-images-per-s", type=float, default=50000.0, help="assumed (no GPU here)")
    a = p.parse_args()
    tb, rc, rg = a.textbook_ms_per_image / 1e3, a.resnet_cpu_ms_per_image / 1e3, 1 / a.resnet_gpu_images_per_s
    tg = 1 / a.textbook_gpu_images_per_s
    print(table("Textbook model, CPU workers (measured compute)", tb, TEXTBOOK_PARAMS,
                [("32 (global 32N)", lambda n: 32), ("256 (global 256N)", lambda n: 256),
                 ("global 32 fixed: 32/N", lambda n: 32 / n)]))  # fmt: skip
    print(table("ResNet50 224x224, GPU workers (assumed compute)", rg, RESNET50_PARAMS,
                [("64 (global 64N)", lambda n: 64), ("256 (global 256N)", lambda n: 256),
                 ("global 256 fixed: 256/N", lambda n: 256 / n)]))  # fmt: skip
    print(table("Textbook model, GPU workers (assumed compute)", tg, TEXTBOOK_PARAMS,
                [("32 (global 32N)", lambda n: 32), ("1024 (global 1024N)", lambda n: 1024)]))  # fmt: skip
    print(f"ResNet50 on CPU workers (measured {rc * 1e3:.0f} ms/image): at 32 images per worker, compute "
          f"{32 * rc:.0f} s per step vs {allreduce_s(64, RESNET50_PARAMS * 4, '25 GbE'):.2f} s all-reduce at N=64 "
          f"on 25 GbE: efficiency {efficiency(64, 32, rc, RESNET50_PARAMS, '25 GbE'):.1%}.\n")
    print("Per-worker batch for 80 % efficiency at N = 64:")
    for name, t, params in (("textbook/CPU", tb, TEXTBOOK_PARAMS), ("textbook/GPU", tg, TEXTBOOK_PARAMS),
                            ("ResNet50/GPU", rg, RESNET50_PARAMS)):  # fmt: skip
        for link in LINKS:
            print(f"- {name}, {link}: {min_batch_for(0.8, 64, t, params, link):.1f} images")


if __name__ == "__main__":
    main()
