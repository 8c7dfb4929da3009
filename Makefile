# Every target creates its virtual environment when it is missing, so a fresh clone needs only `make demo`
# or `make test`. AIRFLOW_VERSION picks the Airflow release; the default one lives in .venv, others in
# .venv-airflow-<version>, so the oldest supported release can be tested beside the newest.
PYTHON ?= python3
AIRFLOW_VERSION ?= 3.3.2
DEFAULT_AIRFLOW_VERSION := 3.3.2
ifeq ($(AIRFLOW_VERSION),$(DEFAULT_AIRFLOW_VERSION))
VENV ?= .venv
VERSION_PYTEST_ARGS :=
E2E_BUILD := build/e2e
E2E_DISTRIBUTED_BUILD := build/e2e-distributed
else
VENV ?= .venv-airflow-$(AIRFLOW_VERSION)
E2E_BUILD := build/e2e-airflow-$(AIRFLOW_VERSION)
E2E_DISTRIBUTED_BUILD := build/e2e-distributed-airflow-$(AIRFLOW_VERSION)
# Older Airflow warns about its own internal imports (FutureWarning subclasses); the strict filter is
# there to catch deprecated imports in *our* code, which the run on the default release does.
VERSION_PYTEST_ARGS := -W default::FutureWarning
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: venv test lint typecheck unit demo e2e e2e-distributed bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[test]" "apache-airflow==$(AIRFLOW_VERSION)"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_runway tests example_dags benchmarks scripts
	$(BIN)/ruff format --check airflow_provider_runway tests example_dags benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest $(VERSION_PYTEST_ARGS) $(PYTEST_ARGS)

# The whole suite: lint, types, then every test (pytest exits 5 when it collects nothing: that fails too).
test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# A real Airflow (api-server, scheduler, dag-processor, two triggerers, LocalExecutor) on a throwaway
# PostgreSQL against the simulator, plus headless Chromium (PostgreSQL and Chromium installed with apt-get
# when missing); screenshots, logs and summary.json land in build/e2e/ (build/e2e-airflow-<version>/ for
# another AIRFLOW_VERSION). E2E_TIMEOUT bounds each test, in seconds.
E2E_TIMEOUT ?= 900
e2e: $(STAMP)
	RUNWAY_E2E=1 RUNWAY_E2E_BUILD=$(E2E_BUILD) $(BIN)/python -m pytest tests/e2e -m e2e -p no:cacheprovider -v \
		--timeout=$(E2E_TIMEOUT) $(VERSION_PYTEST_ARGS) $(PYTEST_ARGS)

# The production-shaped profile: the same stack on the CeleryExecutor, with a throwaway Redis as the broker
# (Debian's redis-server, installed with apt-get when missing), two Celery workers of 2 slots each and the
# Runway connections from a secrets backend; a fleet of 250 mapped generations, a Celery worker SIGKILLed
# mid-wait, a killed and a stalled triggerer, mark-failed and a pool. summary.json and logs land in
# build/e2e-distributed/. docs/deployment.md quotes the commands it runs.
e2e-distributed: $(STAMP)
	RUNWAY_E2E=1 RUNWAY_E2E_EXECUTOR=CeleryExecutor RUNWAY_E2E_BUILD=$(E2E_DISTRIBUTED_BUILD) \
		$(BIN)/python -m pytest tests/e2e -m e2e -p no:cacheprovider -v \
		--timeout=$(E2E_TIMEOUT) $(VERSION_PYTEST_ARGS) $(PYTEST_ARGS)

# Benchmarks run in their own venv, benchmarks/.venv: the package (editable) plus what only the benchmarks
# need (apache-airflow-providers-http and -dbt-cloud to compare import cost, psutil, py-spy, pyinstrument),
# so the package's own dependencies and .venv stay untouched. BENCH_ARGS=--quick for the short run.
BENCH_VENV := benchmarks/.venv
BENCH_ARGS ?=
bench: $(STAMP)
	test -x $(BENCH_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(BENCH_VENV)
	$(BIN)/uv pip install --python $(BENCH_VENV)/bin/python --quiet -e ".[test]" "apache-airflow==$(AIRFLOW_VERSION)" \
		apache-airflow-providers-http apache-airflow-providers-dbt-cloud psutil py-spy pyinstrument
	$(BENCH_VENV)/bin/python benchmarks/run_all.py $(BENCH_ARGS)

# The chaos soak: 300 generations through the real operator and trigger code with ~10% of requests failing;
# prints correct outcomes, and the incorrect outcomes, duplicate creates, orphaned remote tasks and lost
# outputs that must all be 0. SOAK_GENERATIONS changes the count; the summary also goes to build/soak.json.
# Also the secrets scan of the example DAGs under `airflow dags test` (about 100 s).
SOAK_GENERATIONS ?= 300
soak: $(STAMP)
	mkdir -p build
	RUNWAY_SOAK_RESULTS=build/soak.json $(BIN)/python -m pytest tests/reliability -m soak --soak \
		--soak-generations=$(SOAK_GENERATIONS) -p no:cacheprovider -q -s -p no:logging $(VERSION_PYTEST_ARGS) $(PYTEST_ARGS)

clean:
	rm -rf .venv .venv-airflow-* airflow_home demo_output build dist .pytest_cache .mypy_cache .ruff_cache
