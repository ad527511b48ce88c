"""Deprecated alias of :mod:`scalinglab.models.plrf.phases`: the 4+3 phase diagram is PLRF-only and
lives with the model; generic code reaches it through the model's ``phase_diagram`` hook."""
import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("scalinglab.models.plrf.phases")
