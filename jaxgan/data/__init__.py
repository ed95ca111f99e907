"""Datasets."""

from jaxgan.data import mixtures
