"""Issue 14.4: the help lists every name with its syntax and defaults; every flag has help."""

import argparse

import pytest

from leakjax.cli import build_parser, catalog


def _subparsers(parser):
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def test_every_flag_of_every_subcommand_has_help():
    subs = _subparsers(build_parser())
    assert {"attack", "demo", "sweep", "export", "report", "train-generator"} <= set(subs)
    for name, p in subs.items():
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and a.help.strip(), f"leakjax {name} {a.option_strings or a.dest}"


def test_attack_help_lists_attacks_with_steps_models_data_and_defenses(capsys):
    from leakjax.attacks import ATTACKS
    from leakjax.data import EMBEDDED
    from leakjax.defenses.spec import SYNTAX
    from leakjax.models import MODELS
    from leakjax.sweep.build import ATTACK_DEFAULT_STEPS

    with pytest.raises(SystemExit):
        build_parser().parse_args(["attack", "--help"])
    text = capsys.readouterr().out
    lines = text.splitlines()
    for name in ATTACKS:
        (line,) = [ln for ln in lines if ln.startswith(f"  {name} ")]
        assert f"[{ATTACK_DEFAULT_STEPS[name]:>4}]" in line  # the default steps next to the name
        assert catalog.ATTACKS[name].split()[0] in line
    for name in (*MODELS, *EMBEDDED, *catalog.TEXT_MODELS, *catalog.TEXT_DATASETS):
        assert any(ln.startswith(f"  {name} ") for ln in lines), name
    for name in catalog.TEXT_ATTACKS:  # text attacks with their default steps too
        (line,) = [ln for ln in lines if ln.startswith(f"  {name} ")]
        assert f"[{ATTACK_DEFAULT_STEPS[name]:>4}]" in line
    for syntax in SYNTAX.values():
        assert syntax in text
    assert "standard deviation" in text and "fraction" in text.lower()  # units
    # defaults are shown next to the flags
    flat = " ".join(text.split())
    flat = flat[flat.index("what to attack:") :]  # past the usage line
    for flag, default in (("--attack NAME", "idlg"), ("--model NAME", "lenet"),
                          ("--local-lr LOCAL_LR", "0.0001"), ("--restarts RESTARTS", "1"),
                          ("--out OUT", "runs/attack"), ("--split SPLIT", "private")):  # fmt: skip
        i = flat.index(flag)
        assert f"(default: {default})" in flat[i : i + 400], flag


def test_the_catalog_describes_every_registered_name():
    from leakjax.attacks import ATTACKS
    from leakjax.data import EMBEDDED
    from leakjax.defenses.spec import SYNTAX
    from leakjax.models import MODELS

    assert set(ATTACKS) == set(catalog.ATTACKS)
    assert set(MODELS) == set(catalog.MODELS)
    assert set(EMBEDDED) == set(catalog.DATASETS)
    assert set(SYNTAX) == set(catalog.DEFENSES)
    from leakjax.attacks import TEXT_ATTACKS
    from leakjax.models import TEXT_MODELS
    from leakjax.sweep.text import TEXT_DATA

    assert set(TEXT_ATTACKS) == set(catalog.TEXT_ATTACKS)
    assert set(TEXT_MODELS) == set(catalog.TEXT_MODELS)
    assert set(TEXT_DATA) == set(catalog.TEXT_DATASETS)


def test_model_rules_match_the_models():
    """The CLI's static 'needs BatchNorm' list is the zoo's truth (so its message is right)."""
    import jax

    from leakjax.attacks.priors import has_bn_statistics
    from leakjax.cli.attack import BN_MODELS
    from leakjax.models import MODELS

    for name, factory in MODELS.items():
        kw = {"width": 1} if name.startswith("resnet") else {}
        if name in ("lenet", "convnet"):
            kw = {"width": 2}
        m = factory(jax.random.key(0), input_shape=(12, 12, 1), num_classes=2, **kw)
        assert has_bn_statistics(m) == (name in BN_MODELS), name
