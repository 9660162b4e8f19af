#!/usr/bin/env bash
# Install everything, then train the textbook CNN on Fashion-MNIST.
# Extra arguments go to cnnlab train, e.g. scripts/train.sh --epochs 3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/cnnlab train configs/fashion.yaml "$@"
