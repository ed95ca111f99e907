"""experiments/timing.py: the runner's compiled step as the benchmarks time it."""

from experiments import timing
from jaxgan.config import Config


def test_the_timed_step_carries_the_objectives_own_state():
  # LeCam keeps EMAs of D's logits in GANState.objective: the timed state must hold them.
  config = Config(dataset="ring8", lecam_weight=0.1, num_steps=10, batch_size=16, g_width=8,
                  d_width=8).validate()
  contestant = timing.jaxgan_contestant(config)
  assert contestant["flops"] > 0
  assert timing.rate(contestant["run"], 2) > 0
