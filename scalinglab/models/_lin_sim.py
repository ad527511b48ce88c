"""Deprecated alias of :mod:`scalinglab.models.lin.simulation` (the module moved there; issue 12)."""
import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("scalinglab.models.lin.simulation")
