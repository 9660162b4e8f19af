#!/bin/bash
# What a lent GPU machine needs for `gpu_benchmark.py screen` and has not: Fashion-MNIST and, in
# case its Python lacks them, wheels of pydantic and PyYAML (it has no network). Writes
# outputs/gpu/ (ignored by git, ~42 MB); pass it to the device tool as carry: ["outputs/gpu"].
set -eu
cd "$(dirname "$0")/../.."
mkdir -p outputs/gpu/data/fashion-mnist outputs/gpu/wheels
cp /usr/share/datasets/fashion-mnist/*.gz outputs/gpu/data/fashion-mnist/
for version in 310 311 312 313; do
  python -m pip download -q --only-binary=:all: --python-version "$version" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d outputs/gpu/wheels pydantic pyyaml
done
du -sh outputs/gpu
