"""Model registry: one module per solvable model, all with the contract of ``base.py``."""
from __future__ import annotations

import importlib
from types import ModuleType

from .base import Curves, Point, geometric_steps

__all__ = ["MODELS", "get_model", "Curves", "Point", "geometric_steps"]

#: spec ``model`` string -> module path. A new model is a module plus one entry here.
MODELS: dict[str, str] = {
    "plrf": "scalinglab.models.plrf",
    "bap": "scalinglab.models.bap",
    "lin": "scalinglab.models.lin",
}


def get_model(name: str) -> ModuleType:
    """The model module for a spec's ``model`` string."""
    if name not in MODELS:
        from scalinglab.errors import SpecError

        raise SpecError("spec", "model", name, f"one of {sorted(MODELS)}")
    return importlib.import_module(MODELS[name])
