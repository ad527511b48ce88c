"""Model registry: built-in and plug-in models, each an object satisfying :class:`Model` (``base.py``).

Models register in the Python entry-point group ``scalinglab.models`` (as xarray's backends do)::

    [project.entry-points."scalinglab.models"]
    toy = "scalinglab_toy:MODEL"

The three built-in models (``plrf``, ``bap``, ``lin``) register there too, and are also found
without installed metadata. :func:`get_model` loads a model once and checks it with
:func:`check_model`; a plug-in that does not conform fails with one message listing every gap.
``docs/adding-a-model.md`` walks through a complete plug-in.
"""
from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Iterator

from .base import (Curves, Model, ModelBase, ModelConformanceError, PhaseDiagram, Point, Streams, check_model,
                   geometric_steps)

__all__ = ["MODELS", "ENTRY_POINT_GROUP", "get_model", "model_names", "Model", "ModelBase", "Curves", "Point",
           "Streams", "PhaseDiagram", "check_model", "ModelConformanceError", "geometric_steps"]

ENTRY_POINT_GROUP = "scalinglab.models"

#: The built-in models: name -> "module:attribute" (the same strings as their entry points).
BUILTIN: dict[str, str] = {
    "plrf": "scalinglab.models.plrf:MODEL",
    "bap": "scalinglab.models.bap:MODEL",
    "lin": "scalinglab.models.lin:MODEL",
}

_loaded: dict[str, Any] = {}


def _registered() -> dict[str, str]:
    """name -> "module:attribute" for every registered model (built-ins first, then plug-ins)."""
    return dict(_scan(tuple(sys.path)))


@functools.lru_cache(maxsize=8)
def _scan(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The entry-point scan (~10 ms), once per sys.path (a plug-in installed on a new path is seen)."""
    out = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out.setdefault(ep.name, ep.value)
    return tuple(out.items())


def model_names() -> list[str]:
    """Every registered model name, built-in and plug-in, sorted."""
    return sorted(_registered())


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def get_model(name: str) -> Model:
    """The model object registered as ``name`` (checked against :class:`Model` on first load).

    Raises
    ------
    SpecError
        No model of that name is registered (the message lists the registered ones).
    ModelConformanceError
        The registered object does not satisfy the protocol.
    """
    if name in _loaded:
        return _loaded[name]
    registered = _registered()
    if name not in registered:
        from scalinglab.errors import SpecError

        raise SpecError("spec", "model", name, f"one of {sorted(registered)}",
                        f"A plug-in model registers in the entry-point group {ENTRY_POINT_GROUP!r}")
    target = registered[name]
    model = check_model(_load(target), name, origin=f"entry point {target}")
    _loaded[name] = model
    return model


class _Names(Mapping):
    """``MODELS``: a live read-only mapping name -> "module:attribute" over the registry."""

    def __getitem__(self, key: str) -> str:
        return _registered()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(model_names())

    def __len__(self) -> int:
        return len(_registered())

    def __contains__(self, key: object) -> bool:
        return key in _registered()

    def __repr__(self) -> str:
        return f"MODELS({model_names()})"


#: Kept for old callers: ``name in MODELS``, ``sorted(MODELS)``. Prefer :func:`model_names`.
MODELS: Mapping[str, str] = _Names()
