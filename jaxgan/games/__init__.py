"""Two-player games small enough to solve by hand, and the update rules that play them."""

from jaxgan.games.rules import RULES, trajectory, vector_field
from jaxgan.games.toys import GAMES, bilinear, dirac_gan
