"""The objective's parts compose: several regularisers, stateful views, schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgan
from jaxgan import regularisers, schedules, views
from jaxgan.regularisers import penalties
from jaxgan.models import MLPDiscriminator, MLPGenerator
from conftest import batches

G, D = MLPGenerator(latent_dim=3, width=16), MLPDiscriminator(width=16)


def _r1_r2_by_hand(state, x):
  """R1 on the real batch and R2 on the step's first generated batch, for k = 1."""
  _, step_key = jax.random.split(state.key)
  z = jax.random.normal(jax.random.split(step_key, 2)[0], (x.shape[0], 3))
  fake = G.apply({"params": state.g_params}, z)
  d = lambda v: D.apply({"params": state.d_params}, v)
  return penalties.zero_centred(d, x), penalties.zero_centred(d, fake)


def test_r1_and_r2_together_add_their_weighted_values_to_d_cost():
  tx = optax.sgd(0.0)
  x = batches(1, 1, 8)[0]
  objective = jaxgan.Objective(jaxgan.losses.get("non_saturating"),
                               d_regularisers=(regularisers.penalty("r1", 3.0),
                                               regularisers.penalty("r2", 0.5)))
  state = jaxgan.create_state(0, G, D, tx, tx, x["x"][0], objective)
  _, metrics = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective))(state, x)
  r1, r2 = _r1_r2_by_hand(state, x["x"][0])
  assert float(r1) > 0 and float(r2) > 0
  np.testing.assert_allclose(metrics["d/penalty"], 3.0 * r1 + 0.5 * r2, rtol=1e-5)


def test_a_regulariser_weight_follows_its_schedule_of_the_step():
  tx = optax.sgd(0.0)
  x = batches(1, 1, 8)[0]
  weight = lambda step: jnp.where(step < 1, 0.0, 2.0)
  objective = jaxgan.Objective(jaxgan.losses.get("hinge"),
                               d_regularisers=(regularisers.penalty("r1", weight),))
  state = jaxgan.create_state(0, G, D, tx, tx, x["x"][0], objective)
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective))
  _, first = step(state, x)
  second_state = state.replace(step=jnp.int32(1))
  _, second = step(second_state, x)
  assert float(first["d/penalty"]) == 0.0
  r1, _ = _r1_r2_by_hand(second_state, x["x"][0])
  np.testing.assert_allclose(second["d/penalty"], 2.0 * r1, rtol=1e-5)


def counting_view() -> views.View:
  """A view with state: it counts the D updates (through its update hook, which is told how
  many came before; 100 marks a wrong count) and shows D the samples unchanged."""
  return views.View("counter", lambda x, key, step, state: x, lambda: jnp.zeros((), jnp.int32),
                    lambda state, real_logits, updates, devices, step=0: jnp.where(
                        updates == state, state + 1, 100))


def test_a_stateful_view_keeps_its_state_in_the_objective_and_is_updated_per_d_update():
  tx = optax.adam(1e-3)
  x = batches(2, 2, 8)
  objective = jaxgan.Objective(jaxgan.losses.get("hinge"),
                               view=views.chain(counting_view(), views.diff_augment("")))
  state = jaxgan.create_state(0, G, D, tx, tx, x[0]["x"][0], objective)
  assert jax.tree.map(int, state.objective) == {"view": {"counter": 0}}
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective, d_steps=2))
  for batch in x:
    state, _ = step(state, batch)
  assert int(state.objective["view"]["counter"]) == 4  # 2 steps of k = 2 D updates
  # A skipped (non-finite) update leaves it as it was, like every other part of the state.
  skip = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective, d_steps=2,
                                        skip_nonfinite=True))
  kept, metrics = skip(state, {"x": x[0]["x"].at[0, 0, 0].set(jnp.nan)})
  assert int(metrics["skipped"]) == 1 and int(kept.objective["view"]["counter"]) == 4


def test_schedules_by_hand():
  np.testing.assert_allclose(schedules.cosine(0.9, 0.99, 100)(jnp.array([0, 50, 100, 200])),
                             [0.9, 0.945, 0.99, 0.99], rtol=1e-6)
  decay = schedules.ema_half_life(10_000, batch_size=500)
  np.testing.assert_allclose(decay(jnp.int32(7)), 0.5 ** (500 / 10_000), rtol=1e-6)
  # With a ramp-up of 0.05 the half-life is 5 % of the images seen: at step 100 (50k images)
  # 2.5k images, so the decay there is 0.5 ** (500 / 2500).
  ramped = schedules.ema_half_life(10_000, batch_size=500, rampup=0.05)
  np.testing.assert_allclose(ramped(jnp.int32(100)), 0.5 ** (500 / 2500), rtol=1e-6)
  np.testing.assert_allclose(ramped(jnp.int32(10_000)), 0.5 ** (500 / 10_000), rtol=1e-6)
  assert float(ramped(jnp.int32(0))) == 0.0  # at the start the EMA copies the parameters


def test_adam_takes_beta2_as_a_schedule_of_its_count():
  from jaxgan import optim  # pylint: disable=import-outside-toplevel
  params = {"w": jnp.array([1.0, -2.0])}
  grads = [{"w": jnp.array([0.5, 0.1])}, {"w": jnp.array([-0.3, 0.4])},
           {"w": jnp.array([0.2, 0.2])}]

  def run(tx):
    p, state = params, tx.init(params)
    for g in grads:
      updates, state = tx.update(g, state, p)
      p = optax.apply_updates(p, updates)
    return p["w"]

  # A constant schedule is Adam with that beta2; a moving one is Adam with beta2 at each
  # count, written out here: v_t = b2(t) v_(t-1) + (1 - b2(t)) g², bias-corrected by the
  # product of the b2(t) as optax's scale_by_adam does with the current b2 (1 - b2(t)^(t+1)).
  np.testing.assert_allclose(run(optim.optimizer("adam", 0.1, b1=0.0, b2=lambda c: 0.9)),
                             run(optim.optimizer("adam", 0.1, b1=0.0, b2=0.9)), rtol=1e-6)
  cosine = schedules.cosine(0.9, 0.99, 2)
  w, v = np.array([1.0, -2.0]), np.zeros(2)
  for t, g in enumerate(grads):
    b2 = float(cosine(t))
    v = b2 * v + (1 - b2) * np.asarray(g["w"]) ** 2
    w = w - 0.1 * np.asarray(g["w"]) / (np.sqrt(v / (1 - b2 ** (t + 1))) + 1e-8)
  np.testing.assert_allclose(run(optim.optimizer("adam", 0.1, b1=0.0, b2=cosine)), w, rtol=1e-5)
