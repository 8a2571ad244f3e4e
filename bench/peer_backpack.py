"""A peer as a second oracle for the GGN and the Hessian's diagonal: BackPACK (issue 19).

BackPACK computes curvature by module-level backpropagation of second-order quantities, not by the
jvp-of-grad / double-backward route of ``verify`` — independent code. On MLPs and a small CNN
(``nn.Sequential`` of layers BackPACK supports) with cross-entropy and MSE, the bench compares:

* BackPACK's ``DiagGGNExact`` with the diagonal of ``verify.ggn_operator``'s products (e_iᵀ G e_i);
* BackPACK's ``DiagHessian`` with the diagonal of the dense autograd Hessian;

and prints how far the GGN and Hessian diagonals are from each other (what a route mixing them up would miss by).

BackPACK is not a dependency: ``pip install --no-deps backpack-for-pytorch einops unfoldNd`` (its
``torchvision`` requirement is only for its examples, and the PyPI torchvision wheel does not load with the
CPU torch pinned here). Run: ``python bench/peer_backpack.py``.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from verify import FunctionalModel, ggn_operator


def _models() -> list[tuple[str, nn.Module, torch.Tensor, torch.Tensor, str]]:
    g = torch.Generator().manual_seed(0)
    X, Xi = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(5, 2, 5, 5, generator=g,
                                                                             dtype=torch.float64)
    y_ce, y_mse = torch.randint(0, 3, (6,), generator=g), torch.randn(6, 3, generator=g, dtype=torch.float64)
    torch.manual_seed(0)
    mlp = lambda act: nn.Sequential(nn.Linear(4, 5), act(), nn.Linear(5, 3)).double()  # noqa: E731
    cnn = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(27, 3)).double()
    return [("mlp tanh, cross-entropy", mlp(nn.Tanh), X, y_ce, "cross-entropy"),
            ("mlp sigmoid, MSE", mlp(nn.Sigmoid), X, y_mse, "mse"),
            ("cnn sigmoid, cross-entropy", cnn, Xi, torch.randint(0, 3, (5,), generator=g), "cross-entropy")]


def _backpack(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    from backpack import backpack, extend
    from backpack.extensions import DiagGGNExact, DiagHessian

    model = extend(net)
    lossfn = extend(nn.CrossEntropyLoss() if loss == "cross-entropy" else nn.MSELoss())
    model.zero_grad()
    X = X.clone().requires_grad_(True)  # BackPACK's hooks want an input that requires grad
    with backpack(DiagGGNExact(), DiagHessian()):
        lossfn(model(X), y).backward()
    params = [p for p in model.parameters()]
    return (torch.cat([p.diag_ggn_exact.reshape(-1) for p in params]),
            torch.cat([p.diag_h.reshape(-1) for p in params]))


def main() -> int:
    try:
        import backpack  # noqa: F401
    except ImportError:
        print("BackPACK is not installed: pip install --no-deps backpack-for-pytorch einops unfoldNd")
        return 2
    torch.set_num_threads(1)
    print("max |BackPACK − verify| / max |verify| per quantity")
    for name, net, X, y, loss in _models():
        fm = FunctionalModel(net, (X, y), loss)
        G = ggn_operator(fm, fm.theta0)
        eye = torch.eye(fm.n, dtype=torch.float64)
        ours_ggn = torch.stack([G(e)[i] for i, e in enumerate(eye)])
        ours_h = torch.diagonal(fm.dense_hessian(fm.theta0))
        peer_ggn, peer_h = _backpack(net, X, y, loss)
        rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
        print(f"  {name} (n={fm.n}): diag GGN {rel(peer_ggn, ours_ggn):.1e}, diag Hessian {rel(peer_h, ours_h):.1e} "
              f"(the two diagonals differ by {rel(ours_ggn, ours_h):.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
