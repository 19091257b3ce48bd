"""Client-side simulation: losses, gradients, local training and what the server sees."""

from leakjax.fl import defended
from leakjax.fl.client import (
    GradFn,
    GradFnDefense,
    KeyedGradFn,
    check_images,
    check_labels,
    client_gradient,
    cross_entropy,
    loss_fn,
    per_example_gradients,
)
from leakjax.fl.defended import ClientDefense
from leakjax.fl.fedavg import FedAvgResult, dirichlet_split, fedavg
from leakjax.fl.local import LocalRecipe, batch_plan, local_optimizer, local_update, observe_update
from leakjax.fl.observe import apply_defense, observe, observe_text

__all__ = [
    "ClientDefense",
    "defended",
    "FedAvgResult",
    "dirichlet_split",
    "fedavg",
    "LocalRecipe",
    "batch_plan",
    "local_optimizer",
    "local_update",
    "observe_update",
    "GradFn",
    "GradFnDefense",
    "KeyedGradFn",
    "apply_defense",
    "check_images",
    "check_labels",
    "client_gradient",
    "cross_entropy",
    "loss_fn",
    "observe",
    "observe_text",
    "per_example_gradients",
]
