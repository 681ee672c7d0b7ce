"""``graphc.amp.GradScaler``: loss scaling for float16 training, as ``torch.amp.GradScaler``.

``scaler.scale(loss).backward()`` makes gradients ``scale`` times larger, so that small ones
do not flush to zero in float16; ``scaler.step(optimizer)`` divides them back (``unscale_``)
and steps only when they are all finite; ``scaler.update()`` halves the scale after a step
skipped for inf/NaN gradients and doubles it after ``growth_interval`` finite ones in a row.
The bookkeeping reads gradients (``.item()``), so it runs eagerly, between compiled steps.

    >>> import graphc
    >>> w = graphc.nn.Parameter(graphc.ones(2))
    >>> opt = graphc.optim.SGD([w], lr=0.1)
    >>> scaler = graphc.amp.GradScaler("cpu", init_scale=4.0)
    >>> scaler.scale((w * w).sum()).backward()
    >>> w.grad.tolist()  # 2 w, scaled by 4
    [8.0, 8.0]
    >>> scaler.step(opt); scaler.update(); w.tolist(), scaler.get_scale()
    ([0.800000011920929, 0.800000011920929], 4.0)
"""
from __future__ import annotations

import enum
from collections import defaultdict
from typing import Any, Optional

import numpy as np

import graphc.factories as factories
import graphc.functions as F
from graphc.autograd import no_grad
from graphc.tensor import Tensor
from graphc.user_warnings import warn
from ir import dtypes


class OptState(enum.Enum):
    """Where an optimizer is in the current iteration (``torch.amp.grad_scaler.OptState``)."""
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """Scales losses and unscales gradients, skipping optimizer steps with inf/NaN gradients.

    Arguments, defaults and errors are PyTorch's: ``device`` ("cuda" warns and disables the
    scaler where CUDA is not available), ``init_scale=2.**16``, ``growth_factor=2.0`` (> 1),
    ``backoff_factor=0.5`` (< 1), ``growth_interval=2000``, ``enabled=True`` (False: every
    method passes through, ``scale`` returns its argument and ``step`` calls the optimizer).
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled:
            from graphc.cuda import is_available
            if not is_available():
                warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not "
                     "available.  Disabling.")
                self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Optional[Tensor] = None  # made by the first scale(), on its device
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: Optional[Tensor] = None
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(
                _refresh_per_optimizer_state)

    # -- scaling ---------------------------------------------------------------------------
    def _check_scale_growth_tracker(self, funcname: str) -> tuple[Tensor, Tensor]:
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) "
               "earlier in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, device) -> None:
        self._scale = factories.full((), self._init_scale, dtype=dtypes.f32).to(device)
        self._growth_tracker = factories.full((), self._init_growth_tracker,
                                    dtype=dtypes.i32).to(device)

    def scale(self, outputs):
        """``outputs`` (a tensor, or lists/tuples of them) multiplied by the scale factor."""
        if not self._enabled:
            return outputs

        def apply_scale(value):
            if isinstance(value, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(value.device)
                return value * self._scale.to(value.device)
            if isinstance(value, (list, tuple)):
                return type(value)(apply_scale(item) for item in value)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")
        return apply_scale(outputs)

    # -- unscaling and stepping ------------------------------------------------------------
    def _unscale_grads_(self, optimizer, inv_scale: Tensor, found_inf: Tensor,
                        allow_fp16: bool) -> dict[str, Tensor]:
        """Multiplies every gradient by ``inv_scale`` in place; ``found_inf`` (one per device)
        becomes 1 where some gradient is inf or NaN."""
        per_device: dict[str, Tensor] = {}
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype == dtypes.f16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    device = str(grad.device)
                    if device not in per_device:
                        per_device[device] = found_inf.to(grad.device)
                    if not F.isfinite(grad).all().item():
                        per_device[device].fill_(1.0)
                    grad.mul_(inv_scale.to(grad.device))
        return per_device

    def unscale_(self, optimizer) -> None:
        """Divides ``optimizer``'s gradients by the scale, in place (once per iteration: before
        clipping them, say) and records whether any is inf or NaN."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        assert self._scale is not None
        # the reciprocal in float64, rounded once to float32, as PyTorch computes it
        inv_scale = factories.full((), 1.0 / float(self._scale.item()), dtype=dtypes.f32)
        found_inf = factories.zeros(1, dtype=dtypes.f32)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf,
                                                             False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` after unscaling (if ``unscale_`` was not called
        this iteration), unless a gradient is inf or NaN: then the step is skipped and None
        returned; else what ``optimizer.step`` returns."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """The scale for the next iteration: ``new_scale`` if given, else backed off after a
        skipped step, grown after ``growth_interval`` steps in a row without inf/NaN."""
        if not self._enabled:
            return
        scale, growth_tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                scale.fill_(new_scale)
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor "
                          "or torch.FloatTensor with requires_grad=False.")
                if not isinstance(new_scale, Tensor) or new_scale.numel() != 1 \
                        or new_scale.requires_grad:
                    raise AssertionError(reason)
                scale.fill_(float(new_scale.item()))
        else:
            found_infs = [found_inf for state in self._per_optimizer_states.values()
                          for found_inf in state["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            if sum(float(found_inf.item()) for found_inf in found_infs):
                scale.fill_(float(scale.item()) * self._backoff_factor)
                growth_tracker.fill_(0)
            else:
                successful = int(growth_tracker.item()) + 1
                if successful == self._growth_interval:
                    grown = _float32(float(scale.item()) * self._growth_factor)
                    if grown != float("inf"):  # (a scale that would overflow stays)
                        scale.fill_(grown)
                    successful = 0
                growth_tracker.fill_(successful)
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- settings and state ----------------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (``init_scale`` before the first ``scale``; 1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None \
            else int(self._growth_tracker.item())

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """scale, growth_factor, backoff_factor, growth_interval and _growth_tracker (empty
        when disabled), as PyTorch saves them."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(state_dict["_growth_tracker"])


def _float32(value: float) -> float:
    """``value`` rounded to float32 (the scale is a float32 tensor, as in PyTorch)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


__all__ = ["GradScaler", "OptState"]
