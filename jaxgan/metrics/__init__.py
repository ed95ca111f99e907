"""Evaluation metrics."""

from jaxgan.metrics.modes import mode_coverage
