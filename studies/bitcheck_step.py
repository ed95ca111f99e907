"""Every setting of the step, a few steps each: the state's digest and every metric.

The flagfiles (`studies.bitcheck`) use few of the step's settings; this runs 18 of them
(every penalty, lazy regularisation, LeCam, instance noise, DiffAugment, unrolling, the joint
rules, reuse_fake, the scan form, skipping, bfloat16) for 4 steps on an MLP or DCGAN-28 and
writes `{setting: [digest, metrics per step]}`. It speaks both the API of main up to a5cb89b
(options of make_train_step) and the composed one, so a checkout of either can be compared:

  git worktree add ../before a5cb89b
  PYTHONPATH=../before python studies/bitcheck_step.py before.json
  python studies/bitcheck_step.py after.json

The digest is taken in the old layout (LeCam's EMAs inside d_state), so equal digests mean
equal arrays. Run both on the same machine with the same XLA_FLAGS.
"""
import json, sys
import jax, jax.numpy as jnp, optax
import jaxgan
from jaxgan.models import mlp, dcgan
from jaxgan.runner.checkpoint import state_digest
NEW = hasattr(jaxgan, "Objective")
OBJ_KEYS = ("loss", "penalty", "penalty_weight", "penalty_every", "lecam_weight", "lecam_decay",
            "instance_noise", "instance_noise_steps", "augment_policy", "ac_weight")
CASES = {
  "plain": {}, "hinge_k3": dict(loss="hinge", d_steps=3), "scan_k3": dict(d_steps=3, unroll=False),
  "reuse": dict(reuse_fake=True, d_steps=2), "r1": dict(penalty="r1", penalty_weight=0.1),
  "gp_lazy": dict(penalty="gp", penalty_every=3, d_steps=2), "dragan": dict(penalty="dragan"),
  "lecam": dict(lecam_weight=0.3, lecam_decay=0.9, penalty="r2"),
  "noise": dict(instance_noise=0.5, instance_noise_steps=4),
  "unrolled": dict(unroll_steps=2, loss="least_squares"),
  "simul": dict(update_rule="simultaneous", lecam_weight=0.1),
  "extra": dict(update_rule="extragradient"), "consensus": dict(update_rule="consensus", consensus_weight=0.5),
  "rel": dict(loss="relativistic", reuse_fake=True), "skip": dict(skip_nonfinite=True, ema_decay=0.5),
  "bf16": dict(compute_dtype="bfloat16"),
}
IMG = {"aug": dict(augment_policy="color,translation,cutout", instance_noise=0.1, penalty="r1"),
       "aug_only": dict(augment_policy="translation")}
def run(name, opts, images):
  d_steps = opts.get("d_steps", 1)
  if images:
    G, D = dcgan.DCGAN28Generator(), dcgan.DCGAN28Discriminator()
    shape = (8, 28, 28, 1)
  else:
    G, D = mlp.MLPGenerator(latent_dim=2), mlp.MLPDiscriminator()
    shape = (16, 2)
  tx = optax.adam(1e-3, b1=0.5, eps_root=1e-16 if opts.get("unroll_steps") else 0.0)
  lecam = opts.get("lecam_weight", 0)
  if NEW:
    objopts = {k: v for k, v in opts.items() if k in OBJ_KEYS}
    if "augment_policy" in objopts: objopts["augment"] = objopts.pop("augment_policy")
    obj = jaxgan.objective.build(**objopts)
    rest = {k: v for k, v in opts.items() if k not in OBJ_KEYS}
    state = jaxgan.create_state(0, G, D, tx, tx, jnp.zeros(shape), obj)
    step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, obj, **rest))
  else:
    from jaxgan.regularisers import penalties
    state = jaxgan.create_state(0, G, D, tx, tx, jnp.zeros(shape), d_extra=penalties.lecam_init() if lecam else None)
    step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, **opts))
  logs = []
  for i in range(4):
    x = jax.random.normal(jax.random.key(100 + i), (d_steps,) + shape)
    state, m = step(state, {"x": x})
    logs.append({k: float(v) for k, v in m.items()})
  if NEW and state.objective:  # compare in the old layout
    state = state.replace(d_state={**state.d_state, **state.objective}, objective={})
  return state_digest(state)[:16], logs
out = {}
for name, opts in CASES.items():
  out[name] = run(name, opts, False)
for name, opts in IMG.items():
  out[name] = run(name, opts, True)
json.dump(out, open(sys.argv[1], "w"), indent=0)
print("done")
