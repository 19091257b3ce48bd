"""Gradient-inversion attacks as pure functions, and the driver that runs them."""

from leakjax.attacks.analytic import analytic_fc, analytic_fc_inversion
from leakjax.attacks.base import Attack, FlatState, flat_optimizer_attack
from leakjax.attacks.dlg import dlg
from leakjax.attacks.ggl import GGL_STRATEGIES, ggl
from leakjax.attacks.gias import gias
from leakjax.attacks.idlg import idlg
from leakjax.attacks.inverting_gradients import (
    gradinversion,
    inverting_gradients,
    layer_weights,
    multistep_schedule,
)
from leakjax.attacks.labels import LABEL_RULES, idlg_label, infer_labels
from leakjax.attacks.objectives import (
    DISTANCES,
    cosine_distance,
    l2_distance,
    layerwise_cosine_distance,
    mean_layer_l2_distance,
)
from leakjax.attacks.optim import TorchLBFGS, TorchLBFGSState, torch_lbfgs
from leakjax.attacks.run import STRATEGIES, default_strategy, run, run_batch
from leakjax.attacks.tag import tag, tag_distance, tag_optimizer, tag_schedule
from leakjax.attacks.text_common import nearest_tokens, observe_text
from leakjax.attacks.text_dlg import text_dlg
from leakjax.attacks.token_set import recover_labels_set, recover_tokens, token_scores, token_set

ATTACKS = {
    "dlg": dlg,
    "idlg": idlg,
    "ig": inverting_gradients,
    "gradinversion": gradinversion,
    "analytic_fc": analytic_fc,
    "ggl": ggl,
    "gias": gias,
}
"""Attack name -> factory ``f(model, *, spec, **hyperparameters) -> Attack``."""

TEXT_ATTACKS = {
    "text_dlg": text_dlg,
    "tag": tag,
    "token_set": token_set,
}
"""Text attack name -> factory ``f(model, **hyperparameters) -> Attack`` (no ``spec``)."""

__all__ = [
    "analytic_fc",
    "analytic_fc_inversion",
    "gradinversion",
    "inverting_gradients",
    "layer_weights",
    "multistep_schedule",
    "ATTACKS",
    "TEXT_ATTACKS",
    "nearest_tokens",
    "observe_text",
    "recover_labels_set",
    "recover_tokens",
    "tag",
    "tag_distance",
    "tag_optimizer",
    "tag_schedule",
    "text_dlg",
    "token_scores",
    "token_set",
    "DISTANCES",
    "LABEL_RULES",
    "STRATEGIES",
    "Attack",
    "FlatState",
    "GGL_STRATEGIES",
    "TorchLBFGS",
    "TorchLBFGSState",
    "cosine_distance",
    "default_strategy",
    "dlg",
    "flat_optimizer_attack",
    "ggl",
    "gias",
    "idlg",
    "idlg_label",
    "infer_labels",
    "l2_distance",
    "layerwise_cosine_distance",
    "mean_layer_l2_distance",
    "run",
    "run_batch",
    "torch_lbfgs",
]
