"""Text attacks: the shared attack contracts (recovery and errors: test_attack_text_recovery)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest
from contracts import assert_attack_contract

from leakjax import attacks, models
from leakjax.attacks import observe_text


def _observe(model, ids, labels=None, **kw):
    """observe_text under jit (a tiny program compiles faster than it runs op by op)."""
    return jax.jit(lambda k: observe_text(k, model, ids, labels, **kw))(jax.random.key(1))


# ------------------------------------------------------------------------------------------
# contracts (on an even smaller model: they compile the attack five times)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def micro():
    m = models.transformer_lm(
        jax.random.key(0), vocab_size=8, context=3, num_layers=1, d_model=4, num_heads=1, d_ff=4
    )
    return m, _observe(m, jnp.array([[1, 5, 2]]))


def test_tag_contract(micro):
    m, obs = micro
    assert_attack_contract(
        lambda **hp: attacks.tag(m, **hp),
        obs,
        steps=2,
        hyper_name="alpha",
        hyper_values=[0.05, 0.1],
    )


def test_text_dlg_contract(micro):
    m, obs = micro
    assert_attack_contract(
        # optax path (the L-BFGS path of flat_optimizer_attack is covered by image DLG); the
        # vmapped-hyperparameter property is checked on TAG, which shares embedding_attack
        lambda **hp: attacks.text_dlg(m, optimizer=optax.sgd(0.1), **hp),
        obs,
        steps=2,
    )


def test_token_set_contract(micro):
    m, obs = micro
    assert_attack_contract(
        lambda **hp: attacks.token_set(m, rule="robust", **hp),
        obs,
        steps=1,
        hyper_name="cutoff",
        hyper_values=[3.0, 5.0],
    )
