"""leakjax: gradient-leakage attacks and defenses for federated learning, in JAX."""

from leakjax import attacks, data, defenses, fl, generative, metrics, models
from leakjax.types import (
    AttackResult,
    DataSpec,
    Model,
    Observation,
    Status,
    ThreatModel,
    stack_observations,
)

__version__ = "0.1.0"

__all__ = [
    "AttackResult",
    "DataSpec",
    "Model",
    "Observation",
    "Status",
    "ThreatModel",
    "__version__",
    "attacks",
    "data",
    "defenses",
    "fl",
    "generative",
    "metrics",
    "models",
    "stack_observations",
]
