"""Errors that name a bad setting, shared by the config and the parts that check it."""


class ConfigError(ValueError):
  """The config asks for something the data cannot give (a model at the wrong resolution...)."""
