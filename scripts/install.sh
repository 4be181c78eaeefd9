#!/bin/sh
# Installs everything grader needs on a fresh Debian/Ubuntu machine with Python 3.10+:
# bubblewrap (the sandbox), the CPU build of torch, then the project itself.
#   sh scripts/install.sh        # to grade
#   sh scripts/install.sh test   # to grade and run the tests
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v bwrap >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq bubblewrap >/dev/null
fi

# The pinned CPU build first: an unpinned torch may pull a multi-GB CUDA build, and the
# project's range admits 2.13.0, so installing the project adds nothing heavier.
$PY -m pip install --quiet --disable-pip-version-check torch==2.13.0
if [ "${1:-}" = test ]; then
    # headless Chromium renders the class report in a test
    if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
    fi
    $PY -m pip install --quiet --disable-pip-version-check -e '.[test]'
else
    $PY -m pip install --quiet --disable-pip-version-check -e .
fi
