"""Regenerate ``assets/openapi-subset.json`` from Runway's published OpenAPI document.

The simulator validates create bodies against the request schemas of the endpoints it serves and the tests
validate its responses against the task schema. Shipping the whole 1.2 MB document would be wasteful, so this
keeps only the paths the simulator serves and drops documentation-only keys (descriptions, examples, code
samples). Run it when Runway publishes a new spec::

    python -m airflow_provider_runway.testing._specgen path/to/runway-openapi.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The paths the runway flavor of the simulator serves.
SERVED_PATHS = (
    "/v1/tasks/{id}",
    "/v1/organization",
    "/v1/uploads",
    "/v1/image_to_video",
    "/v1/video_to_video",
    "/v1/text_to_image",
    "/v1/video_upscale",
    "/v1/text_to_video",
    "/v1/character_performance",
)
_DOC_KEYS = {
    "description",
    "example",
    "examples",
    "x-codeSamples",
    "summary",
    "title",
    "x-stainless-variantName",
}
ASSET = Path(__file__).with_name("assets") / "openapi-subset.json"


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


def subset(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the trimmed document: ``info``, the served ``paths`` and the version header parameter."""
    return {
        "openapi": spec.get("openapi"),
        "info": {"version": spec.get("info", {}).get("version")},
        "paths": {path: _strip(spec["paths"][path]) for path in SERVED_PATHS},
        "components": {"parameters": _strip(spec.get("components", {}).get("parameters", {}))},
    }


def main(argv: list[str] | None = None) -> int:
    """Write the subset of the spec named on the command line to the package's assets."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    ASSET.write_text(json.dumps(subset(spec), separators=(",", ":"), sort_keys=True), encoding="utf-8")
    print(f"wrote {ASSET} ({ASSET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
