r"""Checks of the functions students write: the relative error against the library, a verdict.

Each equation a notebook teaches is a stub the student fills in, followed by a cell that calls
:func:`check` (or :func:`check_gradient`) on fixed inputs, as CS231n's assignments do:

.. math:: \text{relative error} = \frac{\lVert y_{mine} - y_{library} \rVert}
          {\max(\lVert y_{mine} \rVert + \lVert y_{library} \rVert,\ \epsilon)} .

It prints one line: the error and a verdict, with a hint when the answer is off by a constant
factor (the usual slip: a missing ½ or :math:`1/(4 N^2 M^2)`). It returns the function the
notebook goes on with: the student's when it agrees with the library, else the library's, so
an unwritten or wrong stub never stops the rest of the notebook.

:func:`claim` states what the prose says a result shows ("the texture's loss falls tenfold"),
with the number measured, and prints whether it holds. The class-setting run of the notebooks
(``benchmarks.notebooks``) lists every claim and sets ``NST_CHECK_CLAIMS=1``, under which a
claim that does not hold fails the notebook; a student's run only prints it, and under
``NST_FAST``, whose tiny sizes the prose does not describe, it is never enforced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..config import checking_claims

#: Below this relative error a function counts as correct (float32 rounding is ~1e-7).
TOLERANCE = 1e-4
#: Factors a slip in a normalisation produces, named for the hint.
FACTORS = {2: "2", 4: "4", 0.5: "1/2", 0.25: "1/4"}


def relative_error(mine: Any, library: Any) -> float:
    """The relative error of two tensors (or numbers), 0 when both are 0."""
    a, b = torch.as_tensor(mine, dtype=torch.float32), torch.as_tensor(library, dtype=torch.float32)
    if a.shape != b.shape:
        return math.inf
    scale = float(a.norm() + b.norm())
    return float((a - b).norm()) / max(scale, 1e-12)


def hint(mine: Any, library: Any) -> str:
    """What a wrong answer may be missing: a constant factor, a shape, or nothing known."""
    a, b = torch.as_tensor(mine, dtype=torch.float32), torch.as_tensor(library, dtype=torch.float32)
    if a.shape != b.shape:
        return f"shape {tuple(a.shape)}, expected {tuple(b.shape)}"
    total = float((a * b).sum())
    if total == 0:
        return "compare your steps with the equation"
    factor = float((a * a).sum()) / total  # least squares: mine ≈ factor × library
    for value, name in FACTORS.items():
        if abs(factor - value) < 1e-3 * value and relative_error(a, value * b) < TOLERANCE:
            return f"off by a factor {name}: check the constants of the equation"
    if relative_error(a, factor * b) < TOLERANCE:
        return f"off by a factor {factor:.4g}: check the normalisation"
    return "compare your steps with the equation"


def check(mine: Callable, library: Callable, *inputs: Any, name: str | None = None) -> Callable:
    """Compare ``mine(*inputs)`` with ``library(*inputs)``; print one line; return the function
    to go on with (``mine`` when it agrees, else ``library``)."""
    name = name or getattr(mine, "__name__", "your function")
    try:
        answer = mine(*inputs)
    except NotImplementedError:
        print(f"{name}: not implemented yet (the notebook goes on with the library's)")
        return library
    expected = library(*inputs)
    return _verdict(name, answer, expected, mine, library)


def check_gradient(mine: Callable, loss: Callable, at: torch.Tensor, *inputs: Any,
                   name: str | None = None) -> Callable:  # fmt: skip
    """Compare ``mine(at, *inputs)``, a hand-written gradient, with autograd's gradient of
    ``loss(at, *inputs)`` with respect to ``at``; print one line; return the gradient function
    to go on with."""
    name = name or getattr(mine, "__name__", "your gradient")

    def autograd(x: torch.Tensor, *rest: Any) -> torch.Tensor:
        x = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(x, *rest), x)
        return grad

    try:
        answer = mine(at, *inputs)
    except NotImplementedError:
        print(f"{name}: not implemented yet (the notebook goes on with autograd's)")
        return autograd
    return _verdict(name, answer, autograd(at, *inputs), mine, autograd)


def check_value(name: str, answer: Any, expected: Any) -> bool:
    """One line for a number or tensor a student computed (an exercise's prediction, say)."""
    if answer is None or answer is ...:
        print(f"{name}: not answered yet")
        return False
    return _verdict(name, answer, expected, True, False)


def claim(text: str, measured: Any, holds: bool) -> bool:
    """Print ``claim: TEXT | measured: M | holds``; fail if it does not hold where claims are
    checked (:func:`nst_utils.config.checking_claims`)."""
    shown = f"{measured:.3g}" if isinstance(measured, float) else str(measured)
    print(f"claim: {text} | measured: {shown} | {'holds' if holds else 'does NOT hold'}")
    if not holds and checking_claims():
        raise AssertionError(f"the notebook says {text!r}, but measured {shown}")
    return bool(holds)


def _verdict(name: str, answer: Any, expected: Any, mine: Any, library: Any) -> Any:
    error = relative_error(_tensor(answer), _tensor(expected))
    if error < TOLERANCE:
        print(f"{name}: relative error {error:.1e}: correct")
        return mine
    advice = hint(_tensor(answer), _tensor(expected))
    print(f"{name}: relative error {error:.1e}: not yet, {advice} "
          "(the notebook goes on with the library's)")  # fmt: skip
    return library


def _tensor(value: Any) -> torch.Tensor:
    """A tensor from a tensor, a number or a sequence of them (detached, on the CPU)."""
    if torch.is_tensor(value):
        return value.detach().float().cpu()
    if isinstance(value, Sequence) and value and torch.is_tensor(value[0]):
        return torch.stack([v.detach().float().cpu() for v in value])
    return torch.as_tensor(value, dtype=torch.float32)
