#!/usr/bin/env bash
# Sideman set-up for a fresh Debian/Ubuntu machine (root, or a user with sudo).
#   bash setup.sh run    install everything, then play the demo jam (writes jam.wav/.mid/.png here)
#   bash setup.sh test   install everything plus the test tools, then run the test suite
set -euo pipefail
mode="${1:-run}"
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_PACKAGES="python3 python3-venv python3-pip jackd2 libportaudio2"
# the tests' peers: jack_midi_clock sends MIDI clock, tmux drives the stage view
if [ "$mode" = "test" ]; then APT_PACKAGES="$APT_PACKAGES jack-midi-clock tmux fluidsynth timgm6mb-soundfont"; fi

missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "== installing system packages:$missing"
  # jackd2 asks about real-time priority in a dialog; answer it non-interactively
  echo "jackd2 jackd/tweak_rt_limits boolean true" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
echo "== installing sideman into .venv"
.venv/bin/python -m pip install -q --upgrade pip
case "$mode" in
  run)
    .venv/bin/python -m pip install -q .
    echo "== sideman jam"
    exec .venv/bin/sideman jam --force
    ;;
  test)
    .venv/bin/python -m pip install -q -e ".[test]"
    echo "== ruff"
    .venv/bin/ruff check .
    echo "== pytest"
    exec .venv/bin/python -m pytest -q -p no:cacheprovider
    ;;
  *)
    echo "usage: bash setup.sh run|test" >&2
    exit 2
    ;;
esac
