"""The Runway simulator: a real HTTP server speaking Runway's task API, for tests, demos and benchmarks.

Stdlib only (PyAV, the ``simulator-media`` extra, renders outputs when installed) and free of Airflow
imports, so it starts fast and can catch the provider's own bugs. See ``docs/simulator.md``. Public names: :class:`Simulator` (in-process server), :class:`SimulatorControl`
(HTTP client for ``/_sim/``), :class:`SimConfig` (the knobs) and :data:`FAULT_KINDS`.

Names are imported lazily so that loading the pytest plugin (``testing.pytest_plugin``), which every pytest
run of anyone who installs the package does, costs nothing until a fixture is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_runway.testing._config import SimConfig
    from airflow_provider_runway.testing._faults import FAULT_KINDS
    from airflow_provider_runway.testing.control import SimulatorControl, SimulatorControlError
    from airflow_provider_runway.testing.simulator import Simulator

__all__ = ["FAULT_KINDS", "SimConfig", "Simulator", "SimulatorControl", "SimulatorControlError"]

_WHERE = {
    "FAULT_KINDS": "_faults",
    "SimConfig": "_config",
    "Simulator": "simulator",
    "SimulatorControl": "control",
    "SimulatorControlError": "control",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    return getattr(module, name)
