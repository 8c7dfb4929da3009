"""The defaults an operator's or the sensor's signature names: plain constants, nothing to import.

DAG files import the operator and sensor modules on every parse (BENCHMARKS.md, "Parse cost"), so those
name their defaults from here and load the rest of the core only when a task runs.
"""

from __future__ import annotations

GATEWAY_BASE_URL = "https://api.cometapi.com/runwayml"
RUNWAY_DIRECT_BASE_URL = "https://api.dev.runwayml.com"
DEFAULT_BASE_URL = GATEWAY_BASE_URL
DEFAULT_CONN_ID = "runway_default"
DEFAULT_API_VERSION = "2024-11-06"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
#: How long one try waits for a task of its own create that the gateway still answers ``task_not_exist``
#: for ("not visible yet"). Integrations that poll the gateway report minutes of it; its docs say "briefly".
DEFAULT_NOT_EXIST_GRACE = 600.0
#: While a task stays invisible, a warning is logged this often (seconds).
NOT_VISIBLE_WARNING_EVERY = 60.0
#: Runway updates a task at most every 5 s; its SDK polls every 6 s.
DEFAULT_POLL_INTERVAL = 6.0
MIN_REAL_POLL_INTERVAL = 5.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
DEFAULT_MAX_POLL_FAILURES = 5
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024
#: The framework's defer timeout is this much later than the trigger's own deadline, so the trigger's
#: deadline (one final poll, then a cancel) always fires first.
DEFER_TIMEOUT_MARGIN = 300.0
