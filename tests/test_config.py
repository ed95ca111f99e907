"""The config in sections: fields by name, flags declared from the fields, vocabularies read
from the modules that own them, and the flat record checkpoints keep."""

import dataclasses
import os

import pytest

from jaxgan.runner import config as config_lib
from jaxgan import losses, optim
from jaxgan.runner import factories
from jaxgan.runner.config import Config
from jaxgan.errors import ConfigError
from jaxgan.models.mlp import MLPSettings
from jaxgan.models.r3gan import R3GANSettings
from jaxgan.models import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fields_by_name_land_in_their_sections_and_the_flat_record_round_trips():
  config = Config(loss="hinge", model="dcgan28", dataset="fashion_mnist", g_lr=2e-4,
                  d_steps=2, fid_samples=50, num_steps=7)
  assert config.objective.loss == "hinge" and config.players.model == "dcgan28"
  assert config.data.dataset == "fashion_mnist" and config.optimisers.g_lr == 2e-4
  assert config.step.d_steps == 2 and config.evaluation.fid_samples == 50
  assert config.run.num_steps == 7
  flat = config.to_dict()
  assert len(flat) == len(config_lib.SECTION_OF) == sum(
      len(dataclasses.fields(cls)) for cls in config_lib.SECTIONS.values())
  assert Config(**flat) == config
  # Each model's own settings are the section its file registers.
  assert config.mlp == MLPSettings() and Config(model="r3gan", stage_blocks=3).model_settings == (
      R3GANSettings(stage_blocks=3))
  assert Config(model="dcgan28").model_settings is None
  # A section given whole, with a field overriding it; replace by field name.
  section = config_lib.ObjectiveSettings(loss="wasserstein", penalty="gp")
  both = Config(objective=section, penalty_weight=5.0)
  assert both.objective == config_lib.ObjectiveSettings("wasserstein", "gp", 5.0)
  assert both.replace(loss="hinge").objective.loss == "hinge"
  assert both.replace(loss="hinge").objective.penalty == "gp"


def test_an_unknown_field_or_a_wrong_section_is_refused_by_name():
  with pytest.raises(ConfigError, match=r"lossy: no such config field; the fields are .*loss"):
    Config(lossy="hinge")
  with pytest.raises(ConfigError,
                     match=r"objective=.* it must be a jaxgan.runner.config.ObjectiveSettings"):
    Config(objective=config_lib.PlayersSettings())


def test_vocabularies_are_read_from_the_registries_that_own_them(monkeypatch):
  with pytest.raises(ConfigError, match=r"loss='mine' is not accepted; choose one of: .*hinge"):
    Config(loss="mine").validate()
  monkeypatch.setitem(losses.LOSSES, "mine", losses.LOSSES["hinge"])
  assert Config(loss="mine").validate().objective.loss == "mine"
  monkeypatch.setitem(registry.MODELS, "tiny", registry.MODELS["dcgan28"])
  Config(model="tiny", dataset="fashion_mnist").validate()
  monkeypatch.setitem(optim.LR_SCHEDULES, "step", optim.LR_SCHEDULES["constant"])
  Config(lr_schedule="step").validate()


@pytest.mark.parametrize("fields, message", [
    ({"num_steps": 0}, "num_steps=0 is not accepted; it must be an integer >= 1"),
    ({"batch_size": True}, "batch_size=True is not accepted; it must be an integer >= 1"),
    ({"g_lr": 0.0}, "g_lr=0.0 is not accepted; it must be a finite number > 0"),
    ({"d_lr": float("inf")}, "d_lr=inf is not accepted; it must be a finite number > 0"),
    ({"g_beta2": 1.0}, r"g_beta2=1.0 is not accepted; it must lie in \[0, 1\)"),
    ({"ema_decay": 1.5}, r"ema_decay=1.5 is not accepted; it must lie in \[0, 1\]"),
    ({"latent_dim": -1}, "latent_dim=-1 is not accepted; it must be an integer >= 0"),
    ({"image_channels": 2}, "image_channels=2 is not accepted; choose 1 or 3"),
    ({"dataset": "cifar100"}, "dataset='cifar100' is not accepted; choose one of: .*tfds:NAME"),
    ({"augment": "colour"}, "augment='colour': 'colour' not accepted"),
    ({"data_dir": 3}, "data_dir=3 is not accepted; it must be a str"),
    ({"tensorboard": "yes"}, "tensorboard='yes' is not accepted; it must be a bool"),
    ({"update_rule": "consensus", "d_steps": 2}, "update_rule='consensus' .* needs d_steps=1"),
    ({"packing": 2, "g_conditioning": "cbn", "dataset": "fashion_mnist", "model": "dcgan28"},
     "packing=2 is not accepted with a conditional model"),
    ({"packing": 3, "batch_size": 64}, "packing=3 does not divide batch_size=64"),
    ({"model": "dcgan28"}, "model='dcgan28' is not accepted for the 2D dataset ring8"),
])
def test_each_bad_value_is_named_with_what_is_accepted(fields, message):
  with pytest.raises(ConfigError, match=message):
    Config(**fields).validate()


def test_the_runner_declares_one_flag_per_field_with_its_default_type_and_help():
  from experiments import run# pylint: disable=import-outside-toplevel
  for cls in config_lib.SECTIONS.values():
    for field in dataclasses.fields(cls):
      flag = run.FLAGS[field.name]
      assert flag.default == field.default, field.name
      assert type(flag.default) is type(field.default), field.name
      assert flag.help.startswith(field.metadata["help"]), field.name
  assert "One of: hinge, least_squares" in run.FLAGS["loss"].help
  # Every flag the runner declares is a config field or one of its own few: no second list.
  own = {"workdir", "resume_from", "start_over", "xla_cpu_ynnpack", "compilation_cache",
         "coordinator_address", "num_processes", "process_id"}
  declared = {flag.name for flag in run.FLAGS.get_flags_for_module(run.__name__)}
  assert declared == set(config_lib.SECTION_OF) | own


def test_each_factory_takes_its_own_section():
  objective = factories.objective_of(config_lib.ObjectiveSettings(loss="hinge", penalty="r1",
                                                       penalty_weight=3.0, penalty_every=4))
  assert objective.loss is losses.LOSSES["hinge"] and len(objective.d_regularisers) == 1
  g_tx, d_tx = factories.optimizers(
      config_lib.OptimisersSettings(optimizer="sgd", lr_schedule="linear"),
                                 horizon=10, step=config_lib.StepSettings(d_steps=2))
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  params = {"w": jnp.ones(())}
  state = d_tx.init(params)
  # sgd with a linear schedule over D's 2 * 10 updates: the 11th update is at lr * (1 - 10/20).
  for _ in range(10):
    _, state = d_tx.update({"w": jnp.ones(())}, state, params)
  update, _ = d_tx.update({"w": jnp.ones(())}, state, params)
  assert float(update["w"]) == pytest.approx(-1e-3 * 0.5)
  del g_tx
  generator, discriminator = factories.players_of(
      config_lib.PlayersSettings(), MLPSettings(g_width=16, d_width=8))
  assert (generator.width, discriminator.width) == (16, 8)
