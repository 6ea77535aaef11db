PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install install-ray install-metaworld install-robosuite test test-metaworld test-robosuite \
	bench reproduce reproduce-beyond lint clean

# torch first, pinned: this machine has its CPU wheel locally; a bare `torch` requirement with
# no torch installed would pull GBs of CUDA packages from the registry.
install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,minari,tensorboard,wandb,mlflow]'

# The optional Ray executor (bolrl run-grid --executor ray).
install-ray:
	$(PIP) install -e '.[ray]'

# Meta-World (bolrl[metaworld]) pins mujoco==3.3.0, so it gets a virtual environment of its
# own, $(MW_VENV); the core keeps the newest MuJoCo it supports.
MW_VENV ?= .venv-metaworld
install-metaworld:
	$(PYTHON) -m venv $(MW_VENV)
	$(MW_VENV)/bin/pip install torch==2.13.0
	$(MW_VENV)/bin/pip install -e '.[metaworld,dev]'

# The extra's tests in its environment; BOLRL_REQUIRE_METAWORLD turns "not installed" skips
# into a failure.
test-metaworld: install-metaworld
	BOLRL_REQUIRE_METAWORLD=1 $(MW_VENV)/bin/python -m pytest tests/test_metaworld.py \
		tests/test_grid.py -k "metaworld or shipped"

# robomimic's tasks on robosuite (bolrl[robosuite]): robosuite 1.5.2 resolves numpy 1.26 and
# needs mujoco 3.3, so it too gets its own environment, $(RS_VENV).
RS_VENV ?= .venv-robosuite
install-robosuite:
	$(PYTHON) -m venv $(RS_VENV)
	$(RS_VENV)/bin/pip install torch==2.13.0
	$(RS_VENV)/bin/pip install -e '.[robosuite,dev]'

# The whole suite there: the robomimic tests, and the core on the other side of its numpy pin
# (1.26 there, 2.x in the main environment). Meta-World and Ray tests skip.
test-robosuite: install-robosuite
	BOLRL_REQUIRE_ROBOSUITE=1 $(RS_VENV)/bin/python -m pytest

# pytest exits 5 when it collects no tests: that is a failure here, not a pass.
test:
	@$(PYTHON) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# The suites' collection throughput too where their environments exist (make install-metaworld,
# make install-robosuite).
bench:
	bolrl bench all
	if [ -x $(MW_VENV)/bin/bolrl ]; then $(MW_VENV)/bin/bolrl bench metaworld; fi
	if [ -x $(RS_VENV)/bin/bolrl ]; then $(RS_VENV)/bin/bolrl bench robomimic; fi

# The paper's study, its data-scaling study and the exploration-noise study, end to end, with
# their reports (results/{paper,scaling,noise}/REPORT.md). Interrupted? Run it again: finished
# cells are skipped and unfinished ones resume from their last round.
reproduce:
	bolrl run-grid paper
	bolrl plot paper
	bolrl run-grid scaling
	bolrl plot scaling
	bolrl run-grid noise
	bolrl plot noise
	bolrl run-grid expressivity
	bolrl plot expressivity

# the newer methods against the recipe (studies/beyond.toml): about 10 core-hours, so its own
# target; finished rounds are kept, so it can run over several sittings
reproduce-beyond:
	bolrl run-grid beyond
	bolrl plot beyond

lint:
	ruff check bolrl tests

clean:
	rm -rf .pytest_cache build *.egg-info
