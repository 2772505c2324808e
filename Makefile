# Commands of the template repository; README.md describes each one.
.PHONY: install lint test demo bench

install:  ## Create .venv with what the template's tests need
	uv sync

lint:  ## Check the hooks, tests and scripts
	uv run ruff check hooks scripts tests
	uv run ruff format --check hooks scripts tests

test: lint  ## Bake the template and test it, and every baked project's own gates
	uv run pytest

demo:  ## Bake the defaults into a temporary folder, serve the sample model, print a prediction
	uv run python scripts/demo.py

bench:  ## Measure the default service against the model and a minimal ASGI app (needs wrk, taskset, 2 CPUs)
	uv run python scripts/bench.py
