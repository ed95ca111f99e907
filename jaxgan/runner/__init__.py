"""The command-line runner: a run's config, the objects made from it, the training loop, the
run directory (checkpoints, metrics, pictures), evaluation during training and export.

`python -m experiments.run` drives it. It imports the library (`jaxgan`'s other modules);
the library never imports it (`tests/test_layout.py`), so research code that takes the step
alone takes none of this.
"""
