"""What the checks find and later checks read: one typed field per fact, default "not yet established"."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["NOT_CHECKED", "STAGES", "Facts"]

#: the well-formed stages that later checks may need, in order (see :func:`verify.regularizers.context.blocked`)
STAGES = ("value", "grad", "double")
#: a stage's cause while the well-formed check has recorded none
NOT_CHECKED = "see the well-formed check"


@dataclass
class Facts:
    """Facts found by the checks of one run of :func:`verify.check_regularizer`.

    Each field's default means the fact was not (yet) established: the checks that read it then
    behave as if the check that writes it found nothing.
    """

    #: why the regularizer could not be adapted to ``theta -> R(theta)`` (the signature check in ``check_regularizer``)
    signature_why: str = "bad signature"
    #: the well-formed check found a finite real scalar value (stage 1 and the round-off test)
    value_ok: bool = False
    #: why the value stage failed, or ``"blocked by: …"`` the stage that failed first
    value_why: str = NOT_CHECKED
    #: the well-formed check found a finite gradient that reaches the parameters
    grad_ok: bool = False
    #: why the gradient stage failed, or ``"blocked by: …"`` the stage that failed first
    grad_why: str = NOT_CHECKED
    #: the well-formed check found double backward (second derivatives) working
    double_ok: bool = False
    #: why the double-backward stage failed, or ``"blocked by: …"`` the stage that failed first
    double_why: str = NOT_CHECKED
    #: two unseeded calls at θ0 differed (the checks then use a fixed seed per call)
    stochastic: bool = False
    #: the dtype R returns (None: not evaluated yet, taken to be the run's dtype)
    value_dtype: torch.dtype | None = None
    #: why the model could not be rebuilt in float64 ('' when it could, or was not asked to)
    float64_unavailable: str = ""
    #: checks that the time limit stopped before they finished (checks that need their result say so)
    timed_out: list[str] = field(default_factory=list)
    #: the gradient check found autograd's gradient of R wrong (the curvature checks are then blocked)
    grad_wrong: bool = False
    #: the smoothness check's curvature bound of L + λR (None: none, or its second derivatives are wrong)
    M: float | None = None
    #: the smoothness check found a kink (then no global M exists)
    kinked: bool = False
    #: the curvature-effect check's sharpness λ_max(∇²L) after training without R (None: not measured)
    sharpness_without: float | None = None
    #: … and with λR
    sharpness_with: float | None = None
    #: the local rates say descending R raises the sharpness (their sum is positive)
    raises_sharpness: bool = False
    #: ``"raises"``, ``"lowers"`` or ``"mixed"`` (see :func:`verify.regularizers.curvature.sharpness_effect`)
    sharpness_effect: str = ""
    #: the model trained with R ended sharper than the one trained without
    trained_sharper: bool = False
    #: d/dt λ_max(∇²L) along −∇R/‖∇R‖ at θ0, trained without R, trained with R
    sharpness_rates: list[float] = field(default_factory=list)
    #: relative change of the sharpness with R at equal training loss
    equal_loss_change: float = 0.0
    #: the training loss at which the two runs are compared
    equal_loss_level: float = 0.0
    #: whether λ_max, the trace and the top-k mean agree on R's effect there (one sentence; "" if not measured)
    measures_sentence: str = ""

    def stage(self, key: str) -> tuple[bool, str]:
        """``(ok, why)`` of the well-formed stage ``key`` (one of :data:`STAGES`)."""
        return {"value": (self.value_ok, self.value_why), "grad": (self.grad_ok, self.grad_why),
                "double": (self.double_ok, self.double_why)}[key]

    def fail_stage(self, key: str, why: str) -> None:
        """Record that stage ``key`` failed because of ``why``; every stage with no cause yet is blocked by it."""
        if key == "value":
            self.value_ok, self.value_why = False, why
        elif key == "grad":
            self.grad_ok, self.grad_why = False, why
        elif key == "double":
            self.double_ok, self.double_why = False, why
        else:
            raise KeyError(key)
        blocked = f"blocked by: {why}"
        if self.value_why == NOT_CHECKED:
            self.value_why = blocked
        if self.grad_why == NOT_CHECKED:
            self.grad_why = blocked
        if self.double_why == NOT_CHECKED:
            self.double_why = blocked
