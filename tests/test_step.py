"""The fused alternating step against a plain reference of Algorithm 1, and its invariants."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import losses
from jaxgan.runner.config import Config
from conftest import assert_same, batches


def reference_step(generator, discriminator, g_tx, d_tx, loss, d_steps, reuse_fake, decay,
                   state, x, compute_dtype=jnp.float32):
  """Algorithm 1 written plainly, one player at a time, following the documented keys.

  With `compute_dtype` the players run on copies of their parameters and inputs cast to it,
  and their outputs are cast back to float32 (mixed precision)."""
  loss = losses.get(loss)
  key, step_key = jax.random.split(state.key)
  keys = jax.random.split(step_key, d_steps + 1)
  if compute_dtype == jnp.float32:
    G = lambda p, z: generator.apply({"params": p}, z)
    D = lambda p, v: discriminator.apply({"params": p}, v)
  else:
    low = lambda tree: jax.tree.map(lambda a: a.astype(compute_dtype), tree)
    G = lambda p, z: generator.apply({"params": low(p)}, low(z)).astype(jnp.float32)
    D = lambda p, v: discriminator.apply({"params": low(p)}, low(v)).astype(jnp.float32)
  d_params, d_opt = state.d_params, state.d_opt_state
  d_costs = []
  for i in range(d_steps):
    z = jax.random.normal(keys[i], (x.shape[1], generator.latent_dim))
    fake = G(state.g_params, z)
    cost, grads = jax.value_and_grad(lambda p: loss(D(p, x[i]), D(p, fake)).d)(d_params)
    updates, d_opt = d_tx.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
    d_costs.append(cost)
  z_g = z if reuse_fake else jax.random.normal(keys[d_steps], z.shape)
  g_cost, grads = jax.value_and_grad(
      lambda p: loss(D(d_params, x[-1]), D(d_params, G(p, z_g))).g)(state.g_params)
  updates, g_opt = g_tx.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state.g_ema, g_params)
  new = state.replace(step=state.step + 1, g_params=g_params, d_params=d_params,
                      g_opt_state=g_opt, d_opt_state=d_opt, g_ema=ema,
                      rng=jax.random.key_data(key))
  return new, {"d/loss": jnp.mean(jnp.stack(d_costs)), "g/loss": g_cost}


# Every loss with k = 1 and k = 3; reusing the fake batch with k = 3 is the same code for
# every loss, so one loss covers it (each case costs a compile of ~5 s in the suite).
@pytest.mark.parametrize("d_steps, reuse_fake, loss", [
    *[(1, True, loss) for loss in ("non_saturating", "relativistic_average", "hinge")],
    *[(3, False, loss) for loss in ("non_saturating", "relativistic_average", "hinge")],
    (3, True, "non_saturating")])
def test_fused_step_equals_plain_algorithm(players, loss, d_steps, reuse_fake):
  # Adam would turn rounding-level differences in a near-zero gradient into +-lr
  # steps, so the comparison uses optimizers that do not amplify rounding.
  G, D, _, _ = players
  g_tx, d_tx = optax.sgd(0.05, momentum=0.5), optax.sgd(0.1)
  data = batches(3, d_steps, 8)
  state = jaxgan.create_state(1, G, D, g_tx, d_tx, data[0]["x"][0])
  ref = state
  step = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, loss, d_steps=d_steps,
                                        reuse_fake=reuse_fake, ema_decay=0.9,
                                        ema_debias=False))
  for batch in data:
    state, metrics = step(state, batch)
    ref, ref_metrics = reference_step(G, D, g_tx, d_tx, loss, d_steps, reuse_fake, 0.9, ref,
                                      batch["x"])
    np.testing.assert_allclose(metrics["d/loss"], ref_metrics["d/loss"], rtol=1e-5)
    np.testing.assert_allclose(metrics["g/loss"], ref_metrics["g/loss"], rtol=1e-5)
  chex.assert_trees_all_close(state, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d_steps", [2, 5])  # k = 1: most other tests of the step
def test_discriminator_updates_k_times_per_step(players, d_steps):
  G, D, g_tx, d_tx = players
  data = batches(3, d_steps, 4)
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, data[0]["x"][0])
  step = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=d_steps))
  for batch in data:
    state, _ = step(state, batch)
  assert int(state.d_opt_state[0].count) == 3 * d_steps
  assert int(state.g_opt_state[0].count) == 3
  assert int(state.step) == 3


def test_scan_and_unrolled_discriminator_loops_agree(players):
  G, D, g_tx, d_tx = players
  data = batches(2, 4, 8)
  init = jaxgan.create_state(0, G, D, g_tx, d_tx, data[0]["x"][0])
  results = []
  for unroll in (True, False):
    step = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=4, unroll=unroll))
    state = init
    for batch in data:
      state, metrics = step(state, batch)
    results.append((state, metrics))
  chex.assert_trees_all_close(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_jit_and_eager_agree(players):
  G, D, g_tx, d_tx = players
  data = batches(1, 1, 8)  # one step, k = 1: jax.disable_jit runs every op from Python
  init = jaxgan.create_state(0, G, D, g_tx, d_tx, data[0]["x"][0])
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, "least_squares", d_steps=1)
  eager, jitted = init, init
  for batch in data:
    with jax.disable_jit():
      eager, m_eager = step(eager, batch)
    jitted, m_jit = jax.jit(step)(jitted, batch)
  chex.assert_trees_all_close((eager, m_eager), (jitted, m_jit), rtol=1e-5, atol=1e-6)


def test_step_compiles_once_across_calls(players):
  G, D, g_tx, d_tx = players
  data = batches(6, 2, 8)
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, data[0]["x"][0])
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=2)
  traces = []

  def counted(state, batch):
    traces.append(1)  # runs only while tracing
    return step(state, batch)

  jitted = jax.jit(counted)
  for batch in data:
    state, _ = jitted(state, batch)
  assert len(traces) == 1


def test_same_seed_same_params_and_other_seed_differs(players):
  G, D, g_tx, d_tx = players
  data = batches(3, 1, 8)
  step = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx))

  def run(seed):
    state = jaxgan.create_state(seed, G, D, g_tx, d_tx, data[0]["x"][0])
    for batch in data:
      state, _ = step(state, batch)
    return state

  a, b, c = run(7), run(7), run(8)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a.g_params["MLP_0"]["Dense_0"]["kernel"],
                            c.g_params["MLP_0"]["Dense_0"]["kernel"])


def test_ema_update_arithmetic():
  ema = {"w": jnp.array([0.0, 10.0]), "b": jnp.array(4.0)}
  params = {"w": jnp.array([1.0, 0.0]), "b": jnp.array(2.0)}
  out = jaxgan.ema_update(ema, params, 0.75)
  np.testing.assert_allclose(out["w"], [0.25, 7.5])
  np.testing.assert_allclose(out["b"], 3.5)


@pytest.mark.parametrize("decay", [0.9, 1.0])
def test_step_keeps_ema_of_generator_params(players, decay):
  G, D, g_tx, d_tx = players
  data = batches(1, 1, 8)
  init = jaxgan.create_state(0, G, D, g_tx, d_tx, data[0]["x"][0])
  state, _ = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, ema_decay=decay,
                                            ema_debias=False))(init, data[0])
  expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, init.g_ema, state.g_params)
  chex.assert_trees_all_close(state.g_ema, expected, rtol=1e-6, atol=1e-7)
  # Debiased (the default), the first update's EMA is G's weights after it (tests/test_ema);
  # a decay of 1 (an EMA that never moves) is left as it is.
  debiased, _ = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, ema_decay=decay))(
      init, data[0])
  chex.assert_trees_all_close(debiased.g_ema, state.g_ema if decay == 1.0 else
                              debiased.g_params, rtol=1e-6, atol=1e-7)
  assert not np.allclose(init.g_params["MLP_0"]["Dense_0"]["kernel"],
                         state.g_params["MLP_0"]["Dense_0"]["kernel"])


def test_data_parallel_axis_splits_a_global_batch_into_the_same_update(players):
  G, D, g_tx, d_tx = players
  x = batches(1, 2, 8)[0]["x"]                          # global batch: (k=2, B=8, 2)
  init = jaxgan.create_state(0, G, D, g_tx, d_tx, x[0])
  replicated = jax.tree.map(lambda a: jnp.stack([a, a]), init)
  halves = {"x": jnp.stack([x[:, :4], x[:, 4:]])}       # each "device" holds 4 per minibatch
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=2, axis_name="data")
  states, metrics = jax.jit(jax.vmap(step, axis_name="data"))(replicated, halves)
  # Averaged gradients keep the replicas identical, metrics too.
  for leaf in jax.tree.leaves(states):
    np.testing.assert_array_equal(leaf[0], leaf[1])
  np.testing.assert_array_equal(metrics["g/loss"][0], metrics["g/loss"][1])
  # Two devices with halves of the global batch = one device with all of it: the
  # devices drew different noise (their slices of one global draw) and averaged.
  single, single_metrics = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=2))(
      init, {"x": x})
  chex.assert_trees_all_close(jax.tree.map(lambda a: a[0], states), single, rtol=1e-5,
                              atol=1e-6)
  np.testing.assert_allclose(metrics["d/loss"][0], single_metrics["d/loss"], rtol=1e-5)


def test_batch_without_one_minibatch_per_d_step_is_refused(players):
  G, D, g_tx, d_tx = players
  x = jnp.zeros((8, 2))
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, x)
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=2)
  with pytest.raises(ValueError, match=r"d_steps=2.*got shape \(8, 2\)"):
    step(state, {"x": x})


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_bad_d_steps_is_refused(players, bad):
  G, D, g_tx, d_tx = players
  with pytest.raises(ValueError, match="d_steps"):
    jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=bad)


def test_state_is_arrays_only(players):
  G, D, g_tx, d_tx = players
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, jnp.zeros((4, 2)))
  leaves = jax.tree.leaves(state)
  assert leaves and all(isinstance(leaf, jax.Array) for leaf in leaves)
  assert state.rng.dtype == jnp.uint32


def test_create_state_draws_exactly_the_players_own_initialisation(players):
  """One compiled init program, but the same numbers as each module's own eager `init`
  with the documented key split (so seeds keep their meaning)."""
  G, D, g_tx, d_tx = players
  x = jnp.zeros((4, 2))
  state = jaxgan.create_state(3, G, D, g_tx, d_tx, x)
  g_key, d_key, state_key = jax.random.split(jax.random.key(3), 3)
  g_vars = G.init({"params": g_key}, jnp.zeros((4, G.latent_dim)), train=False)  # eager
  d_vars = D.init({"params": d_key}, x, train=False)
  assert_same(state.g_params, g_vars["params"])
  assert_same(state.d_params, d_vars["params"])
  assert_same(state.g_ema, g_vars["params"])
  np.testing.assert_array_equal(state.rng, jax.random.key_data(state_key))
  assert int(state.step) == 0 and int(state.skipped) == 0
  # Another seed with the same players reuses the compiled program.
  compiled = jaxgan.state._init_state._cache_size()
  other = jaxgan.create_state(4, G, D, g_tx, d_tx, x)
  assert jaxgan.state._init_state._cache_size() == compiled
  assert not np.array_equal(other.g_params["MLP_0"]["Dense_0"]["kernel"],
                            state.g_params["MLP_0"]["Dense_0"]["kernel"])


def test_bfloat16_step_is_the_plain_algorithm_on_bfloat16_copies(players):
  # k = 3 with fresh z; the casts are the same for every path of the step (`jaxgan.players.MixedPrecision`).
  d_steps, reuse_fake = 3, False
  G, D, _, _ = players
  g_tx, d_tx = optax.sgd(0.05, momentum=0.5), optax.sgd(0.1)
  data = batches(3, d_steps, 8)
  state = jaxgan.create_state(1, G, D, g_tx, d_tx, data[0]["x"][0])
  ref = f32 = state
  settings = dict(d_steps=d_steps, reuse_fake=reuse_fake, ema_decay=0.9, ema_debias=False)
  step = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, compute_dtype="bfloat16", **settings))
  step_f32 = jax.jit(jaxgan.make_train_step(G, D, g_tx, d_tx, **settings))
  ref_step = jax.jit(lambda s, x: reference_step(G, D, g_tx, d_tx, "non_saturating", d_steps,
                                                 reuse_fake, 0.9, s, x, jnp.bfloat16))
  for batch in data:
    state, metrics = step(state, batch)
    f32, _ = step_f32(f32, batch)
    ref, ref_metrics = ref_step(ref, batch["x"])
    np.testing.assert_allclose(metrics["d/loss"], ref_metrics["d/loss"], rtol=1e-6)
    np.testing.assert_allclose(metrics["g/loss"], ref_metrics["g/loss"], rtol=1e-6)
  # Parameters, optimizer states and EMA stay float32, within rounding of the bf16 reference
  # (measured: <= 8e-7), while the float32 step is 2e-4 to 3e-3 away from it.
  chex.assert_trees_all_close(state, ref, atol=1e-5)
  assert jax.tree.all(jax.tree.map(lambda a: a.dtype != jnp.bfloat16, state))
  gap = max(float(jnp.max(jnp.abs(a - b))) for a, b in
            zip(jax.tree.leaves(f32.g_params), jax.tree.leaves(ref.g_params)))
  assert gap > 5e-5


class _BatchNormGenerator(nn.Module):
  latent_dim: int = 3

  @nn.compact
  def __call__(self, z, train: bool = True):
    h = nn.Dense(8)(z)
    # A user's own statistic, written from the activations alone (bf16 under mixed precision).
    last_mean = self.variable("batch_stats", "last_mean", jnp.zeros, (8,))
    if train:
      last_mean.value = jnp.mean(h, axis=0)
    h = nn.BatchNorm(use_running_average=not train, momentum=0.99)(h)
    return nn.Dense(2)(nn.relu(h))


def test_bfloat16_step_keeps_model_state_in_float32():
  """Batch norm's running averages, spectral norm's vectors and a module's own statistics are
  kept as float32 (bf16 could not hold a 0.99-momentum average); they match the f32 step's."""
  G = _BatchNormGenerator()
  D = jaxgan.models.MLPDiscriminator(width=8, depth=1, spectral_norm=True)
  tx = optax.adam(1e-3)
  x = batches(1, 1, 16)[0]
  state = jaxgan.create_state(0, G, D, tx, tx, x["x"][0])
  runs = {}
  for dtype in ("float32", "bfloat16"):
    step = jaxgan.make_train_step(G, D, tx, tx, compute_dtype=dtype)
    runs[dtype], _ = jax.jit(step)(state, x)
  low, high = runs["bfloat16"], runs["float32"]
  assert jax.tree.all(jax.tree.map(lambda a: a.dtype == jnp.float32, (low.g_state, low.d_state)))
  for new, old in zip(jax.tree.leaves(low.g_state), jax.tree.leaves(state.g_state)):
    assert jnp.max(jnp.abs(new - old)) > 1e-4  # the running averages did move, in float32
  chex.assert_trees_all_close(low.g_state, high.g_state, rtol=2e-2, atol=1e-4)
  chex.assert_trees_all_close(low.d_state, high.d_state, rtol=2e-2, atol=1e-3)
  assert not jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)),
                                       low.g_state, high.g_state))


def test_unknown_compute_dtype_is_refused(players):
  with pytest.raises(ValueError, match="compute_dtype='float16'.*float32, bfloat16"):
    jaxgan.make_train_step(*players, compute_dtype="float16")
  with pytest.raises(ValueError, match="compute_dtype='bf16'"):
    Config(compute_dtype="bf16").validate()
