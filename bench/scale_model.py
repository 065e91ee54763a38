#!/usr/bin/env python3
"""scale_model.py — the scaling model of docs/scale-out.md, from measured inputs.

Data-parallel step on N nodes, global batch G rows:
  T(N) = c * ceil(G/N) * (1 + imb) + T_ar(N)
  T_ar(N) = 2 (N-1)/N * S / B + 2 (N-1) * alpha     (ring allreduce: reduce-scatter + allgather)
  efficiency E(N) = T(1) / (N * T(N)) with T(1) = c * G
c: seconds of compute per row on one node (measured: bench_dist.sh's N=1 step time / G);
S: gradient bytes (4 * LoRA floats); B: link bandwidth (bytes/s); alpha: per-message latency;
imb: load imbalance between ranks (measured at N=2: (t2 - t1 - t_ar) / t1, clipped at 0).
Also prints the smallest G (a multiple of N: one micro-batch per rank at least) with E >= 0.9.

usage: scale_model.py --row-s C --floats F [--imb X] [--alpha-us A] [--G 64,256]
"""
import argparse
import math


def t_ar(n, size_b, bw, alpha):
    return 0.0 if n == 1 else 2 * (n - 1) / n * size_b / bw + 2 * (n - 1) * alpha


def eff(n, g, c, size_b, bw, alpha, imb):
    t1 = c * g
    tn = c * math.ceil(g / n) * (1 + (imb if n > 1 else 0)) + t_ar(n, size_b, bw, alpha)
    return t1 / (n * tn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--row-s", type=float, required=True, help="compute seconds per row on one node")
    ap.add_argument("--floats", type=float, default=2442240)
    ap.add_argument("--imb", type=float, default=0.0)
    ap.add_argument("--alpha-us", type=float, default=30.0, help="per-message latency (TCP ~30 us, RDMA ~3 us)")
    ap.add_argument("--G", default="64,256")
    a = ap.parse_args()
    size_b, alpha = 4 * a.floats, a.alpha_us * 1e-6
    gs = [int(x) for x in a.G.split(",")]
    print(f"inputs: {a.row_s:.4g} s/row/node, {size_b / 1e6:.2f} MB gradient, imbalance {a.imb:.0%}, "
          f"latency {a.alpha_us:g} us")
    print("| network | N | allreduce ms | " + " | ".join(f"E at G={g}" for g in gs) + " | smallest G with E >= 90 % |")
    print("|---|---|---|" + "---|" * len(gs) + "---|")
    for gbit in (10, 25, 100):
        bw = gbit * 1e9 / 8
        for n in (2, 8, 16, 64):
            es = " | ".join(f"{eff(n, g, a.row_s, size_b, bw, alpha, a.imb):.0%}" for g in gs)
            gmin = next((g for g in range(n, 1 << 20, n) if eff(n, g, a.row_s, size_b, bw, alpha, a.imb) >= 0.9),
                        None)
            print(f"| {gbit} Gb/s | {n} | {t_ar(n, size_b, bw, alpha) * 1e3:.1f} | {es} | "
                  f"{gmin if gmin else 'never (imbalance)'} |")


if __name__ == "__main__":
    main()
