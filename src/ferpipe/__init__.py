"""Reproducible facial-expression recognition on FER2013: DVC stages, Keras models, MLflow tracking."""

__version__ = "0.1.0"
