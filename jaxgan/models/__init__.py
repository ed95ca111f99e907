"""Generator and discriminator definitions."""

from jaxgan.models.mlp import MLP, MLPDiscriminator, MLPGenerator
