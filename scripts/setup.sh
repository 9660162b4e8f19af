#!/usr/bin/env bash
# Install cnnlab (with its test tools and the export extra) into .venv, and Fashion-MNIST where apt can.
# Safe to re-run: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && SUDO=sudo; }
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    $SUDO apt-get install -y -q dataset-fashion-mnist \
      || { $SUDO apt-get update -q && $SUDO apt-get install -y -q dataset-fashion-mnist; }
  else
    echo "note: no apt-get as root here; Keras will download Fashion-MNIST on first use" >&2
  fi
fi

# Headless Chromium for the report's browser test (tests/test_report.py drives it with Playwright).
if ! command -v chromium >/dev/null; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && SUDO=sudo; }
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
    $SUDO apt-get install -y -q chromium || { $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium; }
  else
    echo "note: no apt-get as root here; the report's browser test will be skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv 2>/dev/null || {
    # Debian ships venv separately.
    ${SUDO:-} apt-get install -y -q python3-venv && python3 -m venv .venv
  }
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,tune,browser,export,mlflow]'
