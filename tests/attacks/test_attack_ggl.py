"""GGL and GIAS: contract, optimizers, adaptive simulation, labels, GIAS fine-tuning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from contracts import assert_attack_contract

from leakjax import attacks, fl
from leakjax.attacks.ggl import latent_kl
from leakjax.generative import dcgan_generator


@pytest.fixture(scope="module")
def gen8():
    return dcgan_generator(
        jax.random.key(3),
        image_shape=(8, 8, 1),
        latent_dim=6,
        width=4,
        num_classes=4,
        conditional=True,
    )


@pytest.fixture(scope="module")
def gen_obs(tiny_lenet, tiny_spec, gen8):
    """A victim inside the generator's range (so a perfect latent exists), label 2."""
    x = gen8.sample(jax.random.key(5), 1, labels=jnp.array([2]))
    return fl.observe(jax.random.key(0), tiny_lenet, x, jnp.array([2]), spec=tiny_spec), x


TINY_BO = dict(bo_init_points=8, bo_buffer=32, bo_candidates=64)


@pytest.mark.parametrize("strategy", attacks.GGL_STRATEGIES)
def test_ggl_contract(tiny_lenet, tiny_spec, gen8, gen_obs, strategy):
    obs, _ = gen_obs

    def make(kl_weight=0.1):  # traced in every strategy's fitness (bound="kl")
        return attacks.ggl(
            tiny_lenet,
            gen8,
            spec=tiny_spec,
            strategy=strategy,
            population_size=4,
            bound="kl",
            kl_weight=kl_weight,
            **TINY_BO,
        )

    assert_attack_contract(make, obs, steps=2, hyper_name="kl_weight", hyper_values=[0.05, 0.1])


def test_gias_contract(tiny_lenet, tiny_spec, gen8, gen_obs):
    obs, _ = gen_obs

    def make(param_learning_rate=1e-2):  # steps=3: one latent step, two fine-tuning steps
        return attacks.gias(
            tiny_lenet,
            gen8,
            spec=tiny_spec,
            latent_steps=1,
            param_learning_rate=param_learning_rate,
        )

    assert_attack_contract(
        make, obs, steps=3, hyper_name="param_learning_rate", hyper_values=[1e-3, 1e-2]
    )


@pytest.mark.parametrize("strategy", ["adam", "bo"])  # cma_es: the contract test
def test_ggl_search_improves_and_returns_the_best_latents_image(
    tiny_lenet, tiny_spec, gen8, gen_obs, strategy
):
    obs, _ = gen_obs
    a = attacks.ggl(
        tiny_lenet,
        gen8,
        spec=tiny_spec,
        strategy=strategy,
        population_size=4,
        num_generations=12,
        **TINY_BO,
    )
    r = jax.jit(lambda k: attacks.run(a, k, obs, steps=12))(jax.random.key(1))
    assert int(r.labels[0]) == 2  # iDLG rule
    trace = np.asarray(r.loss_trace)
    # the search makes progress: the best loss is well below the first step's
    assert float(r.loss) < 0.9 * trace[0], (float(r.loss), trace[0])
    # the returned loss is the best ever evaluated: never above any step's best ...
    assert float(r.loss) <= trace.min() * (1 + 1e-6)
    if strategy == "adam":  # ... and Adam evaluates one point per step, so it is their minimum
        np.testing.assert_allclose(float(r.loss), trace.min(), rtol=1e-6)
    # ... and it is the matching loss of the returned image (not of another latent)
    g = fl.client_gradient(tiny_lenet)(obs.params, r.raw_inputs, r.labels)
    np.testing.assert_allclose(
        float(attacks.mean_layer_l2_distance(g, obs.update)), float(r.loss), rtol=1e-4
    )
    assert r.inputs.shape == (1, 8, 8, 1)
    assert float(r.inputs.min()) >= 0.0 and float(r.inputs.max()) <= 1.0


def test_ggl_applies_defense_simulation(tiny_lenet, tiny_spec, gen8, gen_obs):
    obs, _ = gen_obs
    zero_obs = obs.replace(update=jax.tree.map(jnp.zeros_like, obs.update))
    # observed label must still be inferable: give it
    zero_obs = zero_obs.replace(labels=jnp.array([2]))
    kill = lambda g: jax.tree.map(jnp.zeros_like, g)  # a stand-in "defense" zeroing everything
    a = attacks.ggl(
        tiny_lenet,
        gen8,
        spec=tiny_spec,
        population_size=4,
        labels="given",
        defense_simulation=kill,
    )
    plain = attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, population_size=4, labels="given")
    r_a = attacks.run(a, jax.random.key(0), zero_obs, steps=2)
    r_p = attacks.run(plain, jax.random.key(0), zero_obs, steps=2)
    assert float(r_a.loss) == 0.0
    assert float(r_p.loss) > 0.0
    assert a.name == "ggl_adaptive"


def test_ggl_real_simulations_and_noise_expectation(tiny_lenet, tiny_spec, gen8, gen_obs):
    obs, _ = gen_obs
    for name in ("soteria",):
        a = attacks.ggl(
            tiny_lenet, gen8, spec=tiny_spec, population_size=4, defense_simulation=name
        )
        assert np.isfinite(float(attacks.run(a, jax.random.key(0), obs, steps=1).loss))
    a = attacks.ggl(
        tiny_lenet,
        gen8,
        spec=tiny_spec,
        population_size=4,
        bound="kl",
        noise_std=0.01,
        noise_samples=3,
    )
    assert np.isfinite(float(attacks.run(a, jax.random.key(0), obs, steps=1).loss))


def test_latent_kl_zero_at_standard_normal_moments():
    u = jnp.asarray([-1.0, 1.0])  # mean 0, biased var 1
    assert abs(float(latent_kl(u))) < 1e-6
    assert float(latent_kl(jnp.asarray([3.0, 5.0]))) > 1.0


def test_ggl_validation(tiny_lenet, tiny_spec, gen8):
    with pytest.raises(ValueError, match="strategy"):
        attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, strategy="nevergrad")
    with pytest.raises(ValueError, match="bound"):
        attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, bound="sigmoid")
    with pytest.raises(ValueError, match="population_size"):
        attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, population_size=0)
    with pytest.raises(ValueError, match="latent_dim"):
        attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, latent_dim=7)
    with pytest.raises(ValueError, match="defense_simulation"):
        attacks.ggl(tiny_lenet, gen8, spec=tiny_spec, defense_simulation="nonsense")
    big = dcgan_generator(jax.random.key(0), image_shape=(16, 16, 1), latent_dim=4, width=2)
    with pytest.raises(ValueError, match="shape"):
        attacks.ggl(tiny_lenet, big, spec=tiny_spec)
    with pytest.raises(TypeError, match="Generator"):
        attacks.ggl(tiny_lenet, lambda z: z, spec=tiny_spec)


def test_gias_finetunes_generator(tiny_lenet, tiny_spec, gen8, gen_obs):
    obs, _ = gen_obs
    a = attacks.gias(tiny_lenet, gen8, spec=tiny_spec, latent_steps=4, param_learning_rate=1e-2)
    state = a.init(jax.random.key(0), obs)
    losses = []
    for _ in range(8):
        state, loss = jax.jit(a.step)(state, obs)
        losses.append(float(loss))
    assert int(state.count) == 8
    moved = max(
        float(jnp.max(jnp.abs(p - q)))
        for p, q in zip(jax.tree.leaves(state.gen_params), jax.tree.leaves(gen8.params))
    )
    assert moved > 0.0  # phase 2 changed the generator
    assert float(state.best_loss) <= min(losses) + 1e-9
    inputs, labels, loss = a.result(state, obs)
    assert int(labels[0]) == 2 and np.isfinite(float(loss)) and inputs.shape == (1, 8, 8, 1)
