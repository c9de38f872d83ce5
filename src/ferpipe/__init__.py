"""Facial-expression recognition on FER2013: a reproducible pipeline (DVC stages, Keras models,
MLflow tracking), and the models it trains, packaged, with a Python API:

    from ferpipe import Recognizer
    faces = Recognizer().predict("photo.jpg")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Expression", "Recognizer", "__version__"]

if TYPE_CHECKING:
    from ferpipe.api import Expression, Recognizer


def __getattr__(name: str) -> Any:
    """`Recognizer` and `Expression` load on first use: `import ferpipe` (every stage's first import)
    stays free of numpy, Pillow and LiteRT."""
    if name in ("Recognizer", "Expression"):
        from ferpipe import api

        return getattr(api, name)
    raise AttributeError(f"module 'ferpipe' has no attribute {name!r}")
