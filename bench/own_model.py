"""A regularizer card on a user's ~1M-parameter CNN (issue "Your own model (1/2)"): budget 5 minutes.

Runs ``verify.check_regularizer`` on ``bench/user_cnn.py::build`` (1,050,826 parameters) and
``bench/user_cnn.py::batch`` (64 synthetic CIFAR-shaped images, 10 classes), exactly as
``verify regularizer l2 --model bench/user_cnn.py::build --data bench/user_cnn.py::batch --dtype float32
--threads 2`` does (``--device cuda`` on a GPU machine), and prints for each check its dtype, its
Hessian-vector products and its seconds, then the total against the 5-minute budget. The gradient check
runs in float64 whatever the run's dtype.

Second table: λ_max of a small conv net's loss Hessian (``small``, 2,042 parameters) by Lanczos on
Hessian-vector products against the dense route (n products, then ``eigvalsh``), as a RATIO.

    .venv/bin/python bench/own_model.py [--threads 2] [--dtype float32] [--regularizer l2] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from verify.numeric import FunctionalModel, hvp_products, set_torch_threads  # noqa: E402
from verify.regularizers import check_regularizer, load_object, load_regularizer  # noqa: E402

BUDGET_S = 300.0
MODEL = str(ROOT / "bench" / "user_cnn.py")


class _Steps:
    """Progress lines with the time and the HVP count at each check's start."""

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, int]] = {}
        self.t0 = time.perf_counter()

    def __call__(self, line: str) -> None:
        check, _, what = line.partition(": ")
        now = time.perf_counter()
        if what == "start":
            self.marks[check] = (now, hvp_products())
        print(f"  {now - self.t0:7.1f} s  {line}", file=sys.stderr, flush=True)


def card_table(args: argparse.Namespace) -> float:
    build, batch = load_object(f"{MODEL}::build", "--model"), load_object(f"{MODEL}::batch", "--data")
    steps = _Steps()
    started = time.perf_counter()
    card = check_regularizer(load_regularizer(args.regularizer), model=build, batch=batch, dtype=args.dtype,
                             device=args.device, threads=args.threads, progress=steps)
    total = time.perf_counter() - started
    print(f"\n{card.settings['task_description']}")
    print(f"regularizer {args.regularizer}, run dtype {args.dtype}, device {args.device}, "
          f"torch threads {args.threads}, budget {card.settings['budget']['name']}\n")
    print(f"{'check':<18} {'verdict':<14} {'dtype':<8} {'HVPs':>6} {'seconds':>8}")
    ends = sorted(steps.marks.items(), key=lambda kv: kv[1][0]) + [("end", (started + total, hvp_products()))]
    spans = {c: (ends[i + 1][1][0] - t, ends[i + 1][1][1] - h) for i, (c, (t, h)) in enumerate(ends[:-1])}
    for v in card.checks:
        seconds, products = spans.get(v.claim, (v.elapsed_s, 0))
        print(f"{v.claim:<18} {v.verdict.value:<14} {v.dtype:<8} {products:>6} {seconds:>8.1f}")
    print(f"\nTOTAL {total:.1f} s against the budget of {BUDGET_S:.0f} s: "
          f"{'within' if total <= BUDGET_S else 'OVER'} (RATIO budget/total {BUDGET_S / total:.2f})")
    return total


def lanczos_vs_dense(args: argparse.Namespace) -> None:
    fm = FunctionalModel(load_object(f"{MODEL}::small", "--model"), load_object(f"{MODEL}::batch", "--data"),
                         dtype=torch.float64, device=args.device)
    t = time.perf_counter()
    before = hvp_products()
    hi = fm.extreme_eigenvalue(fm.theta0, tol=1e-8)
    lanczos_s, lanczos_hvps = time.perf_counter() - t, hvp_products() - before
    t = time.perf_counter()
    dense = float(torch.linalg.eigvalsh(fm.dense_hessian(fm.theta0))[-1])
    dense_s = time.perf_counter() - t
    agree = abs(hi.value - dense) <= 1e-6 * abs(dense)
    print(f"\nλ_max of the small conv net's Hessian (n = {fm.n}, float64, {args.device}, {args.threads} threads):")
    print(f"  dense (n products + eigvalsh): {dense_s:.2f} s, {fm.n} HVPs, λ_max = {dense:.10g}")
    print(f"  Lanczos (tol 1e-8):            {lanczos_s:.2f} s, {lanczos_hvps} HVPs, λ_max = {hi.value:.10g}"
          f"{'' if agree else '  DISAGREE'}")
    print(f"RATIO dense / Lanczos time {dense_s / lanczos_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--regularizer", default="l2")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bench/gpu_checks.sh runs it on cuda)")
    args = parser.parse_args()
    set_torch_threads(args.threads)
    card_table(args)
    lanczos_vs_dense(args)


if __name__ == "__main__":
    main()
