"""The GAN objective as composed parts: an adversarial loss, D's view, D's and G's
regularisers.

    objective = Objective(losses.get("hinge"),
                          d_regularisers=(regularisers.penalty("r1", 10.0),
                                          regularisers.penalty("r2", 10.0)),
                          view=views.diff_augment("color,translation"))
    state = create_state(key, G, D, g_tx, d_tx, batch, objective=objective)
    train_step = make_train_step(G, D, g_tx, d_tx, objective)

Each part that declares state (`init()` not None) keeps it in `GANState.objective` under its
name. `ac_weight` weighs an AC-GAN discriminator's class cross-entropy: it is part of both
players' adversarial costs (D on real and generated samples, G on generated ones), so it
counts in `d/loss` and `g/loss`, not among the regularisers.
"""

from typing import NamedTuple

from jaxgan import losses, schedules, views
from jaxgan.regularisers import lecam, orthogonal, path_length, penalties
from jaxgan.regularisers import regulariser as regularisers


class _Parts(NamedTuple):
  loss: losses.Loss
  d_regularisers: tuple[regularisers.Regulariser, ...] = ()
  view: views.View = views.identity()
  ac_weight: schedules.Hyper = 1.0
  # Costs of G's own (`path_length.GInputs`), added to G's cost in its update.
  g_regularisers: tuple[regularisers.Regulariser, ...] = ()


class Objective(_Parts):
  """What the players optimise: D descends `loss.d` + regularisers, G descends `loss.g`.

  Checked when made: `loss` is a `losses.Loss` or a loss's name; each regulariser a
  `regularisers.Regulariser` (one alone is taken as a tuple of one); `view` a `views.View`.
  Anything else is refused with a TypeError naming it, not found out inside the step."""

  def __new__(cls, loss, d_regularisers=(), view=None, ac_weight=1.0, g_regularisers=()):
    view = views.identity() if view is None else view
    return super().__new__(cls, _loss(loss), _regularisers(d_regularisers, "d_regularisers"),
                           _view(view), ac_weight, _regularisers(g_regularisers,
                                                                 "g_regularisers"))

  def _replace(self, **changes) -> "Objective":
    """Returns the objective with `changes`, checked as a new one is."""
    return Objective(**{**self._asdict(), **changes})

  def init(self) -> dict:
    """Returns the state of every part that has one, by the part's name."""
    state = {}
    for part in (self.view, *self.d_regularisers, *self.g_regularisers):
      value = part.init()
      if value is None:
        continue
      if part.name in state:
        raise ValueError(f"two parts of the objective keep state under the name {part.name!r}")
      state[part.name] = value
    return state


def _loss(loss) -> losses.Loss:
  if isinstance(loss, str):
    return losses.get(loss)
  if isinstance(loss, losses.Loss):
    return loss
  if callable(loss):
    raise TypeError(f"{getattr(loss, '__name__', loss)!r} is a plain function where a "
                    f"jaxgan.losses.Loss belongs: wrap it as jaxgan.losses.Loss(fn, "
                    f"g_uses_real=...), saying whether G's cost reads the real logits")
  raise TypeError(f"loss={loss!r}: give a jaxgan.losses.Loss or a loss's name "
                  f"({', '.join(sorted(losses.LOSSES))})")


def _regularisers(parts, field: str) -> tuple:
  parts = (parts,) if isinstance(parts, regularisers.Regulariser) else tuple(parts or ())
  for part in parts:
    if not isinstance(part, regularisers.Regulariser):
      raise TypeError(f"{field} holds {part!r}, not a jaxgan.regularisers.Regulariser "
                      f"(regularisers.penalty(name, weight), lecam.lecam(...), or your own "
                      f"Regulariser(name, cost, weight))")
  return parts


def _view(view) -> views.View:
  if not isinstance(view, views.View):
    raise TypeError(f"view={view!r} is not a jaxgan.views.View (views.diff_augment, "
                    f"views.ada, views.instance_noise, views.chain(...))")
  return view


def as_objective(objective: "Objective | losses.Loss | str | None") -> Objective:
  """Returns an `Objective`; a loss (or its name) alone is that loss with nothing added."""
  if isinstance(objective, Objective):
    return objective
  return Objective(objective)


def check_ada_growth(ada_p: float, augment_growth: str) -> None:
  """Raises ValueError if ADA's probability is to grow (`augment_growth`) while adaptive (a
  negative `ada_p`): an adaptive p has no end value to grow to."""
  if ada_p < 0 and augment_growth != "none":
    raise ValueError(f"augment_growth={augment_growth!r} with an adaptive ADA (ada_p={ada_p}) "
                     f"is not accepted: give ada_p, the probability to grow to, or "
                     f"augment_growth=none")


def build(loss: str | losses.Loss = "non_saturating", *, penalty: str = "none",
          penalty_weight: schedules.Hyper = 10.0, penalty_every: int = 1,
          penalty_decay_to: float = 1.0, lecam_weight: schedules.Hyper = 0.0,
          lecam_decay: float = 0.99, instance_noise: schedules.Hyper = 0.0,
          instance_noise_steps: int = 0, augment: str = "", augment_p: float = 1.0,
          augment_growth: str = "none", ada_p: float = -1.0, ada_target: float = 0.6,
          ada_interval: int = 4, ada_kimg: float = 500.0, ada_pipeline: str = "bgc",
          ac_weight: schedules.Hyper = 1.0,
          pl_weight: float = 0.0, pl_every: int = 4, pl_decay: float = 0.01,
          pl_batch_shrink: int = 2, ortho_weight: float = 0.0, horizon: int = 1) -> Objective:
  """Returns the objective a run's settings name (the runner's flags of the same names).

  `penalty` names any number of penalties (`penalties.parse`: "r1,r2", "r1:0.05,r2:0.01"),
  each at its own weight or `penalty_weight` (λ or γ), lazily every `penalty_every` D
  updates; with `penalty_decay_to` ≠ 1 each weight moves to that fraction of itself along
  half a cosine over `horizon` steps. The penalties come before LeCam; instance noise before
  DiffAugment, which augments each sample with probability `augment_p` (growing from 0 along
  a cosine over `horizon` with `augment_growth="cosine"`, R3GAN's schedule); `augment="ada"`
  is ADA instead (`views.ada`: p fixed at `ada_p`, growing to it on the same cosine with
  `augment_growth`, or adaptive when `ada_p` is negative).
  `pl_weight` > 0 adds G's lazy path-length regularisation (`jaxgan.regularisers.path_length`),
  `ortho_weight` > 0 BigGAN's orthogonal regularisation of G's weights
  (`jaxgan.regularisers.orthogonal`).
  """
  regs = []
  regularisers.check_every(penalty_every)
  for name, weight in penalties.parse(penalty):
    weight = penalty_weight if weight is None else weight
    if penalty_decay_to != 1.0:
      weight = schedules.cosine(weight, weight * penalty_decay_to, horizon)
    regs.append(regularisers.lazy(regularisers.penalty(name, weight), penalty_every))
  if callable(lecam_weight) or lecam_weight:
    regs.append(lecam.lecam(lecam_weight, lecam_decay))
  else:
    lecam.check_decay(lecam_decay)
  if augment.strip() == "ada":
    check_ada_growth(ada_p, augment_growth)
    p = None if ada_p < 0 else schedules.grow(ada_p, augment_growth, horizon)
    policy = views.ada(p, target=ada_target, interval=ada_interval, kimg=ada_kimg,
                       ops=ada_pipeline)
  else:
    policy = views.diff_augment(augment, schedules.grow(augment_p, augment_growth, horizon))
  view = (views.chain(views.instance_noise(instance_noise, instance_noise_steps), policy)
          if callable(instance_noise) or instance_noise or augment else views.identity())
  g_regs = (path_length.path_length(pl_weight, pl_every, pl_decay, pl_batch_shrink),) if (
      pl_weight) else ()
  if callable(ortho_weight) or ortho_weight:
    g_regs += (orthogonal.orthogonal(ortho_weight),)
  return Objective(losses.get(loss), tuple(regs), view, ac_weight, g_regs)
