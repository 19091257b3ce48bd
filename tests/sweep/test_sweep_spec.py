"""Declaring sweeps: axes, combinators, identities, grouping and validation errors."""

import pytest

from leakjax import fl
from leakjax.sweep import (
    Attack,
    Data,
    Defense,
    Model,
    Sweep,
    SweepError,
    Threat,
    axis,
    make_plan,
    product,
    seeds,
    when,
    zip_,
)

DATA = Data("random", victims=3, image_shape=(8, 8, 1), num_classes=4)
MODEL = Model("lenet", num_classes=4, width=4)


def test_product_zip_when_and_list_expansion():
    runs = product(
        axis("attack", [Attack("ig", steps=5, tv_weight=[1e-4, 1e-2]), Attack("dlg", steps=5)]),
        when(lambda r: r["attack"].name == "ig", axis("seed", [0, 1])),
    )
    names = [(r["attack"].name, r["attack"].hp.get("tv_weight"), r.get("seed")) for r in runs]
    assert names == [
        ("ig", 1e-4, 0),
        ("ig", 1e-4, 1),
        ("ig", 1e-2, 0),
        ("ig", 1e-2, 1),
        ("dlg", None, None),
    ]
    z = zip_(axis("model", [MODEL, MODEL]), axis("seed", [3, 4]))
    assert [r["seed"] for r in z] == [3, 4]
    with pytest.raises(ValueError, match="different lengths"):
        zip_(axis("seed", [1, 2]), axis("model", [MODEL]))
    with pytest.raises(ValueError, match="set twice"):
        product(axis("seed", [1]), axis("seed", [2]))
    with pytest.raises(ValueError, match="field='victim'"):
        axis("victim", [1])
    assert [d.spec for d in Defense.grid("prune", [0.1, 0.5])] == ["prune=0.1", "prune=0.5"]


def _sweep(**over):
    fields = dict(attack=Attack("dlg", steps=2), model=MODEL, data=DATA)
    fields.update(over)
    return Sweep("t", runs=product(*(axis(k, [v]) for k, v in fields.items())))


def test_identity_and_grouping():
    s = Sweep(
        "t",
        runs=product(
            axis("attack", [Attack("idlg", steps=2, lbfgs_lr=[1.0, 0.5])]),
            axis("model", [MODEL]),
            axis("data", [DATA]),
            axis("defense", Defense.grid("noise_std", [0.01, 0.1]) + [Defense("quant=fp16")]),
            seeds(2),
        ),
    )
    plan = make_plan(s, {})
    assert len(plan.runs) == 2 * 3 * 2 * 3
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    # numbers are batch axes: noise std and lbfgs_lr share a program, fp16 is another structure
    assert len(plan.groups) == 2
    sizes = sorted(len(g.runs) for g in plan.groups)
    assert sizes == [12, 24]
    # the identity is a content hash: the same declaration again gives the same ids
    again = make_plan(s, {})
    assert [r.run_id for r in again.runs] == [r.run_id for r in plan.runs]
    # stored runs are not pending; diverged ones are only with rerun_failed
    st = {plan.runs[0].run_id: "converged", plan.runs[1].run_id: "diverged"}
    p2 = make_plan(s, st)
    assert p2.pending == len(plan.runs) - 2
    assert make_plan(s, st, rerun_failed=True).pending == len(plan.runs) - 1


@pytest.mark.parametrize(
    "over, match",
    [
        (dict(attack=Attack("dgl", steps=2)), r"attack='dgl': unknown attack"),
        (dict(defense=Defense("prune=1.5")), r"defense='prune=1.5'.*fraction in \[0, 1\)"),
        (dict(defense=Defense("noise_std=0.1", placement="step")), "only applies to a multi-step"),
        (dict(threat=Threat(labels="given")), "DLG optimizes the labels"),
        (dict(threat=Threat(recipe=fl.LocalRecipe(epochs=2))), "explains one gradient"),
        (dict(attack=Attack("dlg", steps=0)), "attack.steps=0"),
        (dict(attack=Attack("dlg", steps=2, tv_weight=0.1)), "hyperparameter tv_weight"),
        (dict(data=Data("photos", victims=0)), "data.victims=0"),
        (dict(model=Model("lenet5")), "model='lenet5'"),
        (
            dict(
                attack=Attack("ig", steps=2),
                data=Data("random", batch_size=4, image_shape=(8, 8, 1), num_classes=4),
                threat=Threat(labels="given", recipe=fl.LocalRecipe(batch_size=3)),
                defense=Defense("dpsgd=1:1"),
            ),
            "must divide data.batch_size",
        ),
    ],
)
def test_bad_axis_values_fail_before_compiling(over, match):
    with pytest.raises(SweepError, match=match):
        make_plan(_sweep(**over), {})


def test_cells_reject_unknown_fields():
    with pytest.raises(ValueError, match="lacks field"):
        make_plan(Sweep("t", runs=[{"attack": Attack("dlg")}]), {})
    with pytest.raises(ValueError, match="unknown field"):
        Sweep("t", runs=[{"attack": Attack("dlg"), "modle": MODEL}]).cells()
