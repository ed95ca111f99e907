"""Every regulariser of the objective, in one place.

- `regulariser`: what a regulariser is (an unweighted cost of what a player sees, a weight, and
  optional state), `penalty(name, weight)`, `lazy(r, every)` and their sum, `total`;
- `penalties`: the stateless gradient penalties of D by name (GP, R1, R2, DRAGAN, 0-GP);
- `lecam`: LeCam's regulariser of D, with the EMAs of D's outputs as its state;
- `path_length`: StyleGAN2's path-length regulariser of G, with the mean length as its state;
- `orthogonal`: BigGAN's orthogonal regularisation of G's weights.

A new stateless penalty is a function and a line of `penalties.PENALTIES`; a stateful one is a
file here returning a `Regulariser`.
"""

from jaxgan.regularisers import lecam, orthogonal, path_length, penalties
from jaxgan.regularisers.regulariser import DInputs, Regulariser, check_every, lazy, penalty, total
