# Two commands on a fresh clone (Python 3.11 + pip):  make demo   |   make test
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean reproduce

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,s3]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf results/quickstart.zarr results/quickstart
	$(BIN)/scalinglab plan examples/quickstart.toml
	$(BIN)/scalinglab run examples/quickstart.toml
	$(BIN)/scalinglab query results/quickstart.zarr --sel alpha=1.0 --sel beta=0.6 --sel t=100000 --var theory_loss --var sim_loss --mean-seed
	$(BIN)/scalinglab analyze results/quickstart.zarr --out-dir results/quickstart_figures
	$(BIN)/scalinglab report results/quickstart.zarr --out results/quickstart_report   # prints the page's path

# The three papers' headline results (README "Paper examples"): each example is swept, analysed
# and written up as one HTML page, results/<name>_report/index.html (each <= 10 min on 2 cores).
EXAMPLES := plrf_phases plrf_sim bap_compute bap_gd bap_data bap_model_size lin_risk

reproduce: $(STAMP)
	@for ex in $(EXAMPLES); do \
	  echo "== $$ex"; rm -rf results/$$ex.zarr results/$${ex}_figures results/$${ex}_report; \
	  $(BIN)/scalinglab run examples/$$ex.toml || exit $$?; \
	  $(BIN)/scalinglab analyze results/$$ex.zarr --out-dir results/$${ex}_figures || exit $$?; \
	  $(BIN)/scalinglab report results/$$ex.zarr --out results/$${ex}_report || exit $$?; \
	done
	@for ex in $(EXAMPLES); do echo "report: results/$${ex}_report/index.html"; done

test: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadscope

bench: $(STAMP)
	$(BIN)/python bench/plrf_sim.py
	$(BIN)/python bench/sweep_overhead.py
	$(BIN)/python bench/plrf_theory.py --flow
	$(BIN)/python bench/bap.py
	$(BIN)/python bench/lin.py
	$(BIN)/python bench/resume.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/files.py
	$(BIN)/python bench/estimates.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) results *.egg-info
