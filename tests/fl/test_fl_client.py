"""The client's loss and gradient (batch-mean CE, hard and soft labels)."""

import jax
import jax.numpy as jnp
import numpy as np

from leakjax import fl


def test_cross_entropy_is_batch_mean_and_soft_equals_hard():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    y = jnp.array([0, 2])
    manual = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(2), y])
    np.testing.assert_allclose(fl.cross_entropy(logits, y), manual, rtol=1e-6)
    np.testing.assert_allclose(fl.cross_entropy(logits, jax.nn.one_hot(y, 3)), manual, rtol=1e-6)


def test_gradient_matches_per_example_mean(tiny_lenet, tiny_spec, tiny_images):
    x = tiny_spec.normalize(tiny_images)
    y = jnp.array([0, 1, 3])
    g = fl.client_gradient(tiny_lenet)(tiny_lenet.params, x, y)
    per = fl.per_example_gradients(tiny_lenet)(tiny_lenet.params, x, y)
    mean = jax.tree.map(lambda a: jnp.mean(a, axis=0), per)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g, mean)


def test_bias_gradient_is_p_minus_y(tiny_lenet, tiny_spec, tiny_images):
    obs = fl.observe(
        jax.random.key(0),
        tiny_lenet,
        tiny_images[:1],
        jnp.array([3]),
        spec=tiny_spec,
        reveal_labels=True,
    )
    p = jax.nn.softmax(tiny_lenet.apply_fn(tiny_lenet.params, tiny_images[:1]))[0]
    expected = p - jax.nn.one_hot(3, 4)
    np.testing.assert_allclose(tiny_lenet.classifier_bias(obs.update), expected, atol=1e-6)
    assert obs.labels.tolist() == [3] and obs.kind == "gradient"


def test_second_order_gradient_through_client_gradient(tiny_lenet, tiny_spec, tiny_images):
    g = fl.client_gradient(tiny_lenet)
    y = jnp.array([1])

    def norm(x):
        return sum(jnp.sum(t**2) for t in jax.tree.leaves(g(tiny_lenet.params, x, y)))

    dx = jax.grad(norm)(tiny_images[:1])
    assert float(jnp.linalg.norm(dx)) > 0
