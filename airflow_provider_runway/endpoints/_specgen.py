"""Regenerate ``runway_openapi.json``, the trimmed copy of Runway's published OpenAPI document.

The provider validates every create body against it before a paid call, and the simulator's runway
flavor validates with the same copy. Shipping the whole 1.2 MB document would be wasteful, so this keeps
the task-creating endpoints (every ``POST`` whose answer is the id of a task to poll at
``GET /v1/tasks/{id}``), the few paths the simulator serves besides them (tasks, organization, uploads),
and drops documentation-only keys (descriptions, examples, code samples). Run it when Runway publishes a
new spec, then look at what changed::

    python -m airflow_provider_runway.endpoints._specgen path/to/runway-openapi.json
    git diff --stat airflow_provider_runway/endpoints/runway_openapi.json

``tests/endpoints/test_spec_copy.py`` fails while the committed copy differs from what this produces.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: Paths the simulator serves besides the task-creating ones.
SERVED_PATHS = ("/v1/tasks/{id}", "/v1/organization", "/v1/uploads")
_DOC_KEYS = {
    "description",
    "example",
    "examples",
    "x-codeSamples",
    "summary",
    "title",
    "x-stainless-variantName",
    "x-stainless-model",
}
COPY = Path(__file__).with_name("runway_openapi.json")


def _strip(node: Any, *, in_properties: bool = False) -> Any:
    """Drop documentation keys, leaving property names (which may be called ``description``) alone."""
    if isinstance(node, dict):
        return {
            key: _strip(value, in_properties=(key == "properties" and not in_properties))
            for key, value in node.items()
            if in_properties or key not in _DOC_KEYS
        }
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _creates_a_task(operation: dict[str, Any]) -> bool:
    """Whether a POST answers with the id of a task (every variant of its 200 answer says so)."""
    answer = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    schema = answer.get("schema", {})
    ids = [
        variant.get("properties", {}).get("id", {}).get("description", "")
        for variant in schema.get("oneOf", [schema])
    ]
    return bool(ids) and all("task" in text.lower() for text in ids)


def task_paths(spec: dict[str, Any]) -> list[str]:
    """The task-creating paths of a spec, in its order."""
    return [
        path
        for path, item in spec["paths"].items()
        if isinstance(item.get("post"), dict) and _creates_a_task(item["post"])
    ]


def subset(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the trimmed document: ``info``, the task-creating and served ``paths``, the version header."""
    creates = task_paths(spec)
    paths = {path: {"post": _strip(spec["paths"][path]["post"])} for path in creates}
    paths.update({path: _strip(spec["paths"][path]) for path in SERVED_PATHS})
    return {
        "openapi": spec.get("openapi"),
        "info": {"version": spec.get("info", {}).get("version")},
        "x-task-paths": creates,
        "paths": paths,
        "components": {"parameters": _strip(spec.get("components", {}).get("parameters", {}))},
    }


def render(spec: dict[str, Any]) -> str:
    """The copy's exact text (one key per line, sorted: a new Runway spec shows as a readable diff)."""
    return json.dumps(subset(spec), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the trimmed copy of the spec named on the command line into the package."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    COPY.write_text(render(spec), encoding="utf-8")
    print(f"wrote {COPY} ({COPY.stat().st_size} bytes, {len(task_paths(spec))} task-creating endpoints)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
