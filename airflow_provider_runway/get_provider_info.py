"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The connection form is declared here (``conn-fields`` and ``ui-field-behaviour``): since Airflow 3.2 the
UI builds the form from this dict and never imports the hook for it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_runway import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-runway",
        "name": "Runway",
        "description": "Generate video with `Runway <https://runwayml.com>`__ (directly or through the "
        "CometAPI gateway) inside Airflow pipelines.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Runway",
                "external-doc-url": "https://docs.dev.runwayml.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Runway",
                "python-modules": ["airflow_provider_runway.hooks.runway"],
            }
        ],
        "operators": [
            {
                "integration-name": "Runway",
                "python-modules": ["airflow_provider_runway.operators.runway"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Runway",
                "python-modules": ["airflow_provider_runway.sensors.runway"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Runway",
                "python-modules": ["airflow_provider_runway.triggers.runway"],
            }
        ],
        "extra-links": ["airflow_provider_runway.links.runway.RunwayTaskLink"],
        "connection-types": [
            {
                "connection-type": "runway",
                "hook-class-name": "airflow_provider_runway.hooks.runway.RunwayHook",
                "hook-name": "Runway",
                "conn-fields": {
                    "api_version": {
                        "label": "API version (X-Runway-Version)",
                        "schema": {"type": ["string", "null"], "default": "2024-11-06"},
                        "description": "Sent as the X-Runway-Version header on every request.",
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                        "description": "Read timeout of one HTTP request; connecting has its own 10 s limit.",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 5},
                        "description": "Retries of a failed request (429, 5xx, network). A create is "
                        "only retried when it certainly never reached the server.",
                    },
                    "verify": {
                        "label": "Verify TLS certificates",
                        "schema": {"type": ["boolean", "null"], "default": True},
                    },
                    "allow_insecure_loopback": {
                        "label": "Allow plain http on loopback (the Runway simulator)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                        "description": "Only for the bundled simulator: allows http:// base and output "
                        "URLs on 127.0.0.1 / localhost.",
                    },
                    "task_link_template": {
                        "label": "Task link template",
                        "schema": {"type": ["string", "null"]},
                        "description": "Where the task's 'Runway task' link points, e.g. a dashboard URL "
                        "containing {task_id}. Default: the task's API URL.",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.cometapi.com/runwayml (gateway) or https://api.dev.runwayml.com",
                        "password": "CometAPI key, or a Runway key starting with key_",
                    },
                },
            }
        ],
    }
