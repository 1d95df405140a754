#!/usr/bin/env bash
# Every benchmark at a size that takes seconds, so that none of them rots (CI runs this);
# the figures it prints are not checked and not the ones in RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 RAY_AUTH_MODE=disabled MMBENCH_HOME="$work/home"
run() { echo "== $*"; SECONDS=0; "$@" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }; tail -n 3 "$work/out.txt"; echo "   ($SECONDS s)"; }
run python benchmarks/perf/ingest_throughput.py --images 200 --small 100 --repeat 1 --cache warm \
    --ingest-workers 1 --out "$work/ingest.json" --cache-dir "$work/ingest"
run python benchmarks/perf/loader_throughput.py --small 200 --large 400 --out "$work/loader.json"
run python benchmarks/perf/train_step.py --rounds 1 --steps 3 --out "$work/train.json"
run python benchmarks/perf/eval_batch.py --images 120 --repeat 1 --sizes tiny --batches 32,128 --work "$work/eval"
run python benchmarks/perf/evaluate_overhead.py --images 150 --repeat 1 --sizes tiny --tasks zero-shot \
    --work "$work/overhead"
run python benchmarks/perf/fusion_overhead.py --images 150 --repeat 1 --work "$work/fusion"
run python benchmarks/perf/jpeg_decode.py --images 10 --repeat 1 --sizes 32
run python benchmarks/perf/startup.py --repeat 1
run python benchmarks/perf/ray_overhead.py --datasets shapes --limit 40 --setups local,ray --out "$work/ray.json"
run python benchmarks/perf/scale.py --sizes 200,400 --work "$work/scale"
# CLIP_benchmark lives in its own venv (it needs torchvision); without one this says "skipped"
run python benchmarks/perf/vs_clip_benchmark.py --venv "${CB_VENV:-/tmp/cbvenv}" --images 150 --repeat 1 \
    --sizes tiny --work "$work/vscb"
