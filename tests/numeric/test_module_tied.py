"""FunctionalModel with tied weights: one tensor under two names stays one parameter in θ and in the gradient."""

from __future__ import annotations

import torch
from torch import nn

from verify.numeric import FunctionalModel

torch.manual_seed(0)
X_VEC = torch.randn(10, 5)
Y_VEC = torch.randint(0, 4, (10,))


class _TiedAutoencoder(nn.Module):
    """The decoder's weight is the encoder's, transposed: one tensor under two names."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(5, 3)
        self.decoder = nn.Linear(3, 5)
        self.decoder.weight = self.encoder.weight  # (3, 5) shared: used as Wᵀ below
        self.head = nn.Linear(5, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.encoder(x))
        return self.head(h @ self.decoder.weight + self.decoder.bias)


def test_tied_weights_stay_tied_and_untied_modules_skip_the_untying():
    tied = FunctionalModel(_TiedAutoencoder, (X_VEC, Y_VEC))
    assert "decoder.weight" not in tied.names  # listed once, as named_parameters lists it
    plain = _TiedAutoencoder().double()
    torch.nn.utils.vector_to_parameters(tied.theta0.clone(), plain.parameters())
    loss = nn.functional.cross_entropy(plain(X_VEC.double()), Y_VEC)
    (expected,) = torch.autograd.grad(loss, [plain.encoder.weight])
    # the shared weight's gradient collects both uses: wrong if the two names were set apart
    got = tied.params(tied.grad(tied.theta0))["encoder.weight"]
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-14)
    assert tied._tied and not FunctionalModel(lambda: nn.Sequential(nn.Linear(5, 4)), (X_VEC, Y_VEC))._tied
