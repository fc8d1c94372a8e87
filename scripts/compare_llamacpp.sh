#!/usr/bin/env bash
# tokengrid against an existing llama.cpp build, on the same GGUF files. Not part of CI.
#
#   scripts/compare_llamacpp.sh LLAMA_CPP_DIR WORK_DIR logits     # F32/F16 logits, greedy ids
#   scripts/compare_llamacpp.sh LLAMA_CPP_DIR WORK_DIR quantized  # Q8_0, Q4_K_M, Q5_K_M: agreement, KL
#   scripts/compare_llamacpp.sh LLAMA_CPP_DIR WORK_DIR bench      # pp128/tg64, interleaved
#
# LLAMA_CPP_DIR is a llama.cpp source tree built with CMake into LLAMA_CPP_DIR/build (override
# with LLAMA_BUILD): libllama and llama-quantize for the first two, llama-bench for the third.
# WORK_DIR holds the model files (several GiB) and logits. Environment: TOKENGRID (default
# build/tokengrid), THREADS (2), SHAPES (comma-separated synthetic shapes, NAME or NAME:LAYERS
# as listed in llamacpp/compare.py, where 0 layers is the whole model: llama-3.2-1b:0; an entry
# that is not listed selects nothing; default all), KINDS (quantized: llama-quantize types,
# default Q8_0,Q4_K_M,Q5_K_M), ROUNDS (bench: interleaved rounds, 3), REPS (bench: repetitions
# per program run, 3).
# Speed figures are only worth reading on an otherwise idle machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() { sed -n 4,6p "$0" | sed 's/^# *//' >&2; exit 2; }
[[ $# -eq 3 ]] || usage
llama=$(cd "$1" && pwd)
work=$2
part=$3
build=${LLAMA_BUILD:-$llama/build}
tokengrid=${TOKENGRID:-$here/../build/tokengrid}
threads=${THREADS:-2}
mkdir -p "$work"
work=$(cd "$work" && pwd)
[[ -x "$tokengrid" ]] || { echo "no tokengrid at $tokengrid: build it first, or set TOKENGRID" >&2; exit 1; }

need() {
  [[ -e "$1" ]] || { echo "not found: $1 ($2)" >&2; exit 1; }
}

# The two helpers, compiled against this llama.cpp build's headers and shared libraries.
build_helpers() {
  need "$llama/include/llama.h" "LLAMA_CPP_DIR must be a llama.cpp source tree"
  local lib
  lib=$(dirname "$(find "$build" -name 'libllama.so*' -print -quit)")
  need "$lib/libllama.so" "build llama.cpp's target 'llama' with BUILD_SHARED_LIBS=ON (its default)"
  c++ -O2 -std=c++17 -I"$llama/include" -I"$llama/ggml/include" "$here/llamacpp/llamacpp_eval.cpp" \
    -L"$lib" -lllama -lggml -lggml-base -Wl,-rpath,"$lib" -o "$work/llamacpp_eval"
  c++ -O2 -std=c++17 "$here/llamacpp/logit_stats.cpp" -o "$work/logit_stats"
}

bench_one() {  # program file reps
  if [[ $1 == tokengrid ]]; then
    "$tokengrid" bench -m "$2" -p 128 -n 64 -t "$threads" -r "$3" --json
  else
    "$build/bin/llama-bench" -m "$2" -p 128 -n 64 -t "$threads" -r "$3" -fa 0,1 -o jsonl
  fi
}

# Llama-3.2-1B-shape files, F16 from tokengrid's writer, Q8_0 and Q4_K_M from llama-quantize;
# then tokengrid, llama.cpp, tokengrid, ... on each file, every run's lines kept.
bench() {
  need "$build/bin/llama-bench" "build llama.cpp's target llama-bench"
  local f16=$work/llama-3.2-1b-f16.gguf
  [[ -e $f16 ]] || "$tokengrid" model synth --shape llama-3.2-1b --type f16 --seed 7 --logits peaked -o "$f16"
  for kind in Q8_0 Q4_K_M; do
    local q=${f16%-f16.gguf}-${kind,,}.gguf
    [[ -e $q ]] || "$build/bin/llama-quantize" "$f16" "$q" "$kind" "$threads" > /dev/null
  done
  echo "# $(date -u +%FT%TZ) $(uptime)"
  for round in $(seq "${ROUNDS:-3}"); do
    for kind in q4_k_m q8_0 f16; do
      for program in tokengrid llama.cpp; do
        echo "# round $round $program $kind $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
        bench_one "$program" "$work/llama-3.2-1b-$kind.gguf" "${REPS:-3}"
      done
    done
  done
  echo "# $(date -u +%FT%TZ) $(uptime)"
}

case $part in
  logits | quantized)
    need "$build/bin/llama-quantize" "build llama.cpp's target llama-quantize"
    build_helpers
    python3 "$here/llamacpp/compare.py" "$part" --tokengrid "$tokengrid" --llamacpp-eval "$work/llamacpp_eval" \
      --logit-stats "$work/logit_stats" --llama-quantize "$build/bin/llama-quantize" --work "$work" \
      --threads "$threads" --shapes "${SHAPES:-}" --kinds "${KINDS:-Q8_0,Q4_K_M,Q5_K_M}"
    ;;
  bench) bench ;;
  *) usage ;;
esac
