"""Networks trained by their authors' PyTorch code, as jaxgan variables.

`state_dict` maps PyTorch-named arrays onto a flax module's variables (checked by name and
shape); `network_pickle` reads the files the official code writes without running any of
their code; one module per model family says how its names and layouts correspond.
"""
