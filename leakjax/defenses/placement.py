"""Where a tier-1 defense acts by default: on every local step, or once on the shared update.

In production FL a client runs K local steps before it shares anything. A defense can act

* ``"step"``: on each local step's gradient. The defended gradient drives that SGD step, the
  shared update is built from the defended steps, and the defense's state (Outpost's iteration
  counter, an error-feedback residual, the noise key) is carried through the local-training scan.
  This is what plato, the Outpost authors' testbed, does for every defense (GC pruning, Laplace
  DP, Soteria, GradDefense, Outpost), and what DP-SGD does by definition.
* ``"update"``: once, on the shared update, expressed as its mean pseudo-gradient
  ``u = (theta_before - theta_after) / (lr * K)`` so that a strength chosen for a gradient acts at
  the same scale (the server then sees ``-lr * K * u'``). This is where communication
  compressors act: top-k with error feedback, DGP and quantization define what goes on the wire.

With one local step (FedSGD, plain SGD) the two coincide. The client's recipe chooses
(:class:`leakjax.fl.LocalRecipe` ``defense_placement``); when it leaves the choice open, the
defense's own default is used. Every factory of :mod:`leakjax.defenses` returns a transform tagged
with its default (:class:`StepTransformation` / :class:`UpdateTransformation`, still
``optax.GradientTransformation`` s); its docstring names the reference the default follows.
:func:`chain` composes tagged transforms and keeps the tag when all parts agree (``optax.chain``
drops it; an untagged transform defaults to ``"step"``). Tier-2 defenses (they wrap the client's
gradient function) always act per step.
"""

from __future__ import annotations

import optax

from leakjax.fl.defended import PLACEMENTS, check_placement

__all__ = ["PLACEMENTS", "StepTransformation", "UpdateTransformation", "chain", "located"]


class StepTransformation(optax.GradientTransformationExtraArgs):
    """An optax transform whose default placement is every local step (``placement="step"``)."""

    __slots__ = ()
    placement = "step"


class UpdateTransformation(optax.GradientTransformationExtraArgs):
    """An optax transform whose default placement is the shared update (``"update"``)."""

    __slots__ = ()
    placement = "update"


def located(tx: optax.GradientTransformation, placement: str) -> optax.GradientTransformation:
    """``tx`` tagged with a default placement (``"step"`` or ``"update"``)."""
    check_placement("located", placement, allow_none=False, name="placement")
    tx = optax.with_extra_args_support(tx)
    cls = StepTransformation if placement == "step" else UpdateTransformation
    return cls(tx.init, tx.update)


def chain(*transforms: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optax.chain`` that keeps the parts' common default placement (else untagged)."""
    tx = optax.chain(*transforms)
    tags = {getattr(t, "placement", None) for t in transforms}
    if len(tags) == 1 and None not in tags:
        return located(tx, tags.pop())
    return tx
