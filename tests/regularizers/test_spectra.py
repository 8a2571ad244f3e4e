"""The curvature-effect check's measures beyond λ_max: each against dense computation, the agreement rule,
and the built-in examples' cards (which measures agree on "R lowers sharpness")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verify.regularizers import examples
from verify.regularizers.model import make_task
from verify.regularizers.spectra import BAND, agreement, density_figure, measure, spectra_budget

from .conftest import by_id, run


def _measures(lam_max: float, trace: float, err: float, top: list[float]) -> dict:
    return {"lambda_max": lam_max, "trace": {"value": trace, "error": err}, "top_k": {"values": top},
            "top_k_mean": float(np.mean(top))}


def test_measures_of_a_task_match_its_dense_hessian():
    task = make_task("mlp", seed=0, dtype=torch.float64, device="cpu")
    H = task.dense_hessian(task.theta0)
    values = torch.linalg.eigvalsh(H).flip(0).numpy()
    got = measure(task, task.theta0, float(values[0]), spectra_budget("full"), seed=0)
    exact = float(torch.trace(H))
    assert abs(got["trace"]["value"] - exact) <= 6 * got["trace"]["error"] + 1e-9 * abs(exact)
    np.testing.assert_allclose(got["top_k"]["values"], values[:5], rtol=1e-6, atol=1e-8 * abs(values[0]))
    assert max(got["top_k"]["residuals"]) <= 1e-4 * abs(values[0])
    nodes, weights = np.array(got["density"]["nodes"]), np.array(got["density"]["weights"])
    assert np.allclose(weights.sum(axis=1), 1.0)
    assert nodes.min() >= values[-1] - 1e-8 and nodes.max() <= values[0] + 1e-8


def test_measures_run_in_the_tasks_own_dtype():
    task = make_task("mlp", seed=0, dtype=torch.float32, device="cpu")
    got = measure(task, task.theta0, 1.0, spectra_budget("large-model"), seed=0)
    assert got["trace"]["matvecs"] == 12 and len(got["top_k"]["values"]) == 3


def test_agreement_names_each_measure_and_calls_small_changes_unchanged():
    a = _measures(1.0, 10.0, 0.1, [1.0, 0.5])
    lower = agreement(a, _measures(0.8, 8.0, 0.1, [0.8, 0.4]))
    assert lower["agree"] and lower["per_measure"] == dict.fromkeys(("lambda_max", "trace", "top_k_mean"), "lowers")
    assert "the model trained with R is flatter" in lower["sentence"]
    mixed = agreement(a, _measures(0.8, 12.0, 0.1, [1.0 + BAND / 2, 0.5]))
    assert not mixed["agree"] and mixed["per_measure"] == {"lambda_max": "lowers", "trace": "raises",
                                                           "top_k_mean": "unchanged"}
    assert "depends on the measure" in mixed["sentence"]
    noisy = agreement(a, _measures(1.0, 10.5, 0.2, [1.0, 0.5]))  # within twice the errors
    assert noisy["per_measure"]["trace"] == "unchanged"


def test_density_figure_has_both_runs_on_one_grid():
    task = make_task("mlp", seed=0, dtype=torch.float64, device="cpu")
    m = measure(task, task.theta0, 1.0, spectra_budget("large-model"), seed=0)
    fig = density_figure(m, m, 0.01)
    assert [s["label"] for s in fig["series"]][0] == "without R" and len(fig["series"]) == 2
    assert fig["series"][0]["x"] == fig["series"][1]["x"]


@pytest.fixture(scope="module")
def lambda_max_card():
    return run(examples.seed000_lambda_max, checks=["curvature-effect"])


def test_the_card_lists_the_measures_their_budgets_and_their_agreement(lambda_max_card):
    v = by_id(lambda_max_card)["curvature-effect"]
    at = v.numeric["measures_at_equal_loss"]
    assert at["measures"] == ["lambda_max", "trace", "top_k_mean"] and at["budget"]["trace_matvecs"] == 30
    assert at["without_R"]["lambda_max"] == v.numeric["at_equal_loss"]["without_R"]["sharpness"]
    # the λ_max regularizer makes the model sharper by every measure
    assert at["agreement"]["per_measure"]["lambda_max"] == "raises" and at["agreement"]["agree"]
    assert "the model trained with R is SHARPER" in lambda_max_card.summary
    titles = [f["title"] for f in v.numeric["figures"]]
    assert "Hessian spectral density at equal training loss" in titles
