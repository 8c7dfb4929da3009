"""Runway's contract as data: one module per endpoint family, request rules from Runway's own spec.

Each module not starting with ``_`` declares ``ENDPOINTS``: for each task-creating endpoint its path, its
operator's arguments and their wire names, which of them may be files (and of what kind), its output
extension, and whether the CometAPI gateway documents it (:mod:`._declare`). Nothing else: what a model
takes comes from ``runway_openapi.json``, a trimmed copy of Runway's published spec (``_specgen.py``
regenerates it), and ``gateway_overlay.json`` for the gateway's own models.

* :mod:`._registry` finds every module and derives the rest: the operators (made in
  :mod:`airflow_provider_runway.operators.runway` on first use), template fields, file inputs, the
  gateway's endpoint list.
* :mod:`._rules` reads the spec and the overlay, and validates with ``jsonschema``.
* :mod:`._body` builds a body from an operator's arguments and names the argument in every error.

Importing this package imports nothing else: a DAG file that uses ``RunwayImageToVideoOperator`` loads
``_declare`` and ``image_to_video`` only; the registry, the rules and the spec load when a task runs.
"""
