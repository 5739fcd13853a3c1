#!/usr/bin/env bash
# Builds Benchmarks/scripts/attention_bf16_bench.c against Sources/CKernels (the flags the package uses) and runs it.
# Usage: bash Benchmarks/scripts/attention_bf16_bench.sh [T HEAD_SIZE]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
clang -O3 -fno-math-errno -ffp-contract=fast -fno-trapping-math -ISources/CKernels/include \
  Benchmarks/scripts/attention_bf16_bench.c Sources/CKernels/attention_bf16.c Sources/CKernels/kernels.c Sources/CKernels/bf16.c \
  -ldl -lpthread -lm -o "$out/bench"
"$out/bench" "${1:-128}" "${2:-32}"
