"""The shape of the package, held against the code: rooms of at most 500 lines, an import graph without a
cycle, and each decision made in one place, so a second copy of one fails here rather than drifting.

Every check reads the source (AST), not the running code: a deferred import inside a function counts as an
import. ``testing/`` (the simulator, a server of its own) is not the provider and is left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import airflow_provider_runway

PACKAGE = Path(airflow_provider_runway.__file__).parent
NAME = "airflow_provider_runway"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "testing":
            continue
        parts = [NAME, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imports(name: str) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it (top level, functions, TYPE_CHECKING)."""
    package = name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(TREES[name]):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        found |= {target for target in targets if target in MODULES and target != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _where(predicate) -> list[str]:
    """``module:function`` of every node (in a function, else the module) for which ``predicate`` holds."""
    places = []
    for name, tree in TREES.items():
        for scope, node in _walk_scoped(tree, "<module>"):
            if predicate(node):
                places.append(f"{name}:{scope}")
    return sorted(set(places))


def _walk_scoped(node: ast.AST, scope: str) -> Iterator[tuple[str, ast.AST]]:
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else scope
        yield inner, child
        yield from _walk_scoped(child, inner)


def _calls(name: str):
    def predicate(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        return (isinstance(func, ast.Name) and func.id == name) or (
            isinstance(func, ast.Attribute) and func.attr == name
        )

    return predicate


# --------------------------------------------------------------------------------------------------------
# Rooms and the import graph
# --------------------------------------------------------------------------------------------------------
def test_no_module_is_over_500_lines():
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: size for name, size in sizes.items() if size > 500} == {}


def test_the_import_graph_has_no_cycle():
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        path.append(name)
        for target in sorted(GRAPH[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in MODULES:
        visit(name)


def test_nothing_below_the_operators_imports_an_operator_module():
    operators = {name for name in MODULES if name.startswith(f"{NAME}.operators")}
    offenders = {
        name: sorted(GRAPH[name] & operators)
        for name in MODULES
        if name not in operators and GRAPH[name] & operators
    }
    assert offenders == {}


def test_media_never_imports_the_hook_and_the_core_imports_no_io_module():
    hooks = {name for name in MODULES if name.startswith(f"{NAME}.hooks")}
    assert GRAPH[f"{NAME}.media"] & hooks == set()
    for name in MODULES:
        if name.startswith(f"{NAME}.core"):
            outside = {t for t in GRAPH[name] if not t.startswith(f"{NAME}.core")} - {
                f"{NAME}.exceptions",
                f"{NAME}._compat",
            }
            assert outside == set(), f"{name} imports {outside}"


def test_nothing_in_the_package_imports_the_models_compatibility_module():
    assert [name for name, targets in GRAPH.items() if f"{NAME}.models" in targets] == []


# --------------------------------------------------------------------------------------------------------
# One home per decision
# --------------------------------------------------------------------------------------------------------
def test_one_retry_loop_for_api_calls_and_downloads():
    """Whether an attempt is repeated is asked in one loop (core.exchange.attempts); the exchange and the
    downloads both drive it."""
    assert _where(_calls("decide_retry")) == [f"{NAME}.core.exchange:attempts"]
    assert f"{NAME}.core.exchange:exchange" in _where(_calls("attempts"))
    assert f"{NAME}.hooks.files:download" in _where(_calls("attempts"))


def test_one_rule_for_may_a_billed_create_have_reached_the_server():
    def reads_not_sent(node: ast.AST) -> bool:
        return isinstance(node, ast.Compare) and "NOT_SENT" in ast.unparse(node)

    def reads_billed(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "billed" and isinstance(node.ctx, ast.Load)

    def tests_uncertain(node: ast.AST) -> bool:
        return _calls("isinstance")(node) and "RunwaySubmitUncertainError" in ast.unparse(node)

    assert _where(reads_not_sent) == [f"{NAME}.core.exchange:may_have_reached_server"]
    # decide_retry and error_for read the flag only to ask the rule; decode_success: a 2xx lost its body
    assert _where(reads_billed) == [
        f"{NAME}.core.exchange:decide_retry",
        f"{NAME}.core.exchange:decode_success",
        f"{NAME}.core.exchange:error_for",
    ]
    assert _where(tests_uncertain) == [f"{NAME}.core.exchange:create_may_have_billed"]


def test_one_file_type_table():
    """Extensions and media types of inputs are listed once (core.filetypes); everything else asks it."""

    def lists_file_types(node: ast.AST) -> bool:
        if isinstance(node, ast.Dict):
            items = [*node.keys, *node.values]
        elif isinstance(node, (ast.Set, ast.List, ast.Tuple)):
            items = list(node.elts)
        else:
            return False
        strings = [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]
        kinds = ("image/", "video/", "audio/")
        return (
            sum(
                s.startswith(kinds) or s in {".mp4", ".png", ".mp3", ".mov", ".jpg", ".webm"} for s in strings
            )
            >= 2
        )

    assert {place.split(":")[0] for place in _where(lists_file_types)} == {f"{NAME}.core.filetypes"}


def test_one_rule_for_plain_http_and_loopback():
    def compares_to_http(node: ast.AST) -> bool:
        return isinstance(node, ast.Compare) and any(
            isinstance(c, ast.Constant) and c.value == "http" for c in [node.left, *node.comparators]
        )

    assert {place.split(":")[0] for place in _where(_calls("is_loopback_host"))} == {f"{NAME}.core.urls"}
    assert {place.split(":")[0] for place in _where(compares_to_http)} == {f"{NAME}.core.urls"}


def test_one_place_says_whether_a_file_fits_a_data_uri():
    assert _where(_calls("data_uri_length")) == sorted(
        [f"{NAME}.core.urls:fits_data_uri", f"{NAME}.media:resolve_asset"]  # media: the size, in a message
    )
    assert [place.split(":")[0] for place in _where(_calls("fits_data_uri"))] == [f"{NAME}.media"]


def test_one_map_from_an_outcome_to_its_exception():
    """A finished task's, or a final event's, exception is raised in core.outcome only."""
    outcome_errors = (
        "RunwayTaskFailedError",
        "RunwayTaskRejectedError",
        "RunwayTaskCancelledError",
        "RunwayTimeoutError",
        "RunwayTaskNotVisibleError",
    )
    places = {place.split(":")[0] for name in outcome_errors for place in _where(_calls(name))}
    assert places == {f"{NAME}.core.outcome"}
    assert {place.split(":")[0] for place in _where(_calls("finish_event"))} <= {
        f"{NAME}.operators.base",
        f"{NAME}.operators.runway",
        f"{NAME}.sensors.runway",
    }


def test_one_deferral_for_the_operators_and_the_sensor():
    """The trigger's kwargs, the framework timeout and its margin are built in triggers.runway.deferral;
    every defer() passes what it returns, in triggers.runway.wait, which the operators and the sensor share."""

    def defers(node: ast.AST) -> bool:
        return _calls("defer")(node) and not (
            len(node.keywords) == 1 and node.keywords[0].arg is None and "deferral(" in ast.unparse(node)
        )

    def sets_margin(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id == "DEFER_TIMEOUT_MARGIN"
                for target in node.targets
            )
            and isinstance(node.value, ast.Constant)
        )

    assert _where(_calls("RunwayTaskTrigger")) == [f"{NAME}.triggers.runway:deferral"]
    assert _where(defers) == []
    # ... and the operators and the sensor wait the one way: defer, else the same wait synchronously
    assert _where(_calls("defer")) == [f"{NAME}.triggers.runway:wait"]
    assert {place.split(":")[0] for place in _where(_calls("wait_for_task"))} == {f"{NAME}.triggers.runway"}
    assert {place.split(":")[0] for place in _where(_calls("wait"))} == {
        f"{NAME}.operators.base",
        f"{NAME}.sensors.runway",
    }
    assert [place.split(":")[0] for place in _where(sets_margin)] == [f"{NAME}.core.defaults"]


def test_one_poll_floor_and_one_plan_from_arguments():
    """The 5 s floor against a real service is checked where a plan is made from a DAG author's arguments
    (polling.plan_for), for the operators and the sensor alike."""

    def reads_floor(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Name)
            and node.id == "MIN_REAL_POLL_INTERVAL"
            and isinstance(node.ctx, ast.Load)
        )

    assert {place for place in _where(reads_floor)} == {f"{NAME}.polling:plan_for"}
    assert {place.split(":")[0] for place in _where(_calls("plan_for"))} == {
        f"{NAME}.operators.base",
        f"{NAME}.sensors.runway",
    }
