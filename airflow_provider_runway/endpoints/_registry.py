"""The registry: every endpoint module of this package, and what is derived from them.

An endpoint module is any module of :mod:`airflow_provider_runway.endpoints` whose name does not start
with ``_``; it declares ``ENDPOINTS``, a tuple of :class:`~._declare.Endpoint`. Adding one is the whole
of adding an endpoint: its operator (when it declares arguments), template fields, file inputs, output
extension and the gateway's endpoint list follow from it, and its request rules from the spec.

Imported when a task runs or validation is asked for, never by a DAG file's parse (which imports at most
the one endpoint module its operator is declared in).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from airflow_provider_runway.endpoints._declare import Endpoint, module_of_operator

__all__ = ["endpoints", "find", "gateway_endpoints", "module_of_operator", "operators"]

PACKAGE = "airflow_provider_runway.endpoints"


def _module_names() -> list[str]:
    package = importlib.import_module(PACKAGE)
    return sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")
    )


@cache
def endpoints() -> dict[str, Endpoint]:
    """Every declared endpoint by its path (``image_to_video``, ``generate/video``), in module order."""
    found: dict[str, Endpoint] = {}
    for name in _module_names():
        module = importlib.import_module(f"{PACKAGE}.{name}")
        for endpoint in getattr(module, "ENDPOINTS", ()):
            if endpoint.path in found:
                raise RuntimeError(f"endpoint {endpoint.path!r} is declared twice (again in {name})")
            found[endpoint.path] = endpoint
    return found


def find(endpoint: str) -> Endpoint | None:
    """The declaration of ``image_to_video``, ``/v1/image_to_video`` or ``v1/image_to_video/``, if any."""
    name = endpoint.strip().strip("/") if isinstance(endpoint, str) else ""
    return endpoints().get(name[3:] if name.startswith("v1/") else name)


def gateway_endpoints() -> tuple[str, ...]:
    """The endpoints the CometAPI gateway documents."""
    return tuple(path for path, endpoint in endpoints().items() if endpoint.gateway)


def operators() -> dict[str, Endpoint]:
    """Every generated operator's class name, and its endpoint."""
    return {e.operator_name: e for e in endpoints().values() if e.operator_name}
