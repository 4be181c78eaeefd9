#!/bin/sh
# Installs everything grader needs on a Debian/Ubuntu machine with Python 3.10+: bubblewrap
# (the sandbox), the CPU build of torch, the course's packages, then the project itself.
#   sh scripts/install.sh        # to grade
#   sh scripts/install.sh test   # to grade and run the tests
#
# Where it installs (printed at the end, and kept in .grader-python for scripts/run):
#   - inside an active virtualenv ($VIRTUAL_ENV), or with PYTHON=/path/to/python: there;
#   - else into python3 when pip may install there (pyenv, conda, a Python of your own);
#   - else (Debian 12+/Ubuntu 23.04+, whose python3 is "externally managed", PEP 668, or a
#     python3 you cannot write to) into a project virtualenv .venv/ made here.
set -eu
cd "$(dirname "$0")/.."
HERE=$(pwd)

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        echo "install.sh: need root for: $*" >&2; return 1; fi
}
apt_install() {  # apt_install PACKAGE...: Debian's packages, once the lists are fresh
    as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    PY=$VIRTUAL_ENV/bin/python
elif [ -x .venv/bin/python ]; then
    PY=$HERE/.venv/bin/python  # made by an earlier run
else
    PY=python3
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    # May pip install into this python3? Yes for a venv, no where the OS manages its packages
    # (an EXTERNALLY-MANAGED file, PEP 668) or its site-packages is not ours to write.
    if ! python3 - <<'EOF'
import os, sys, sysconfig
venv = sys.prefix != sys.base_prefix
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
writable = os.access(sysconfig.get_path("purelib"), os.W_OK)
sys.exit(0 if venv or (not managed and writable) else 1)
EOF
    then
        echo "install.sh: python3 ($(command -v python3)) is managed by the system: installing into $HERE/.venv" >&2
        python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv && python3 -m venv .venv; }
        PY=$HERE/.venv/bin/python
    fi
fi
PY=$("$PY" -c 'import os, sys; print(os.path.abspath(sys.executable))')

if ! command -v bwrap >/dev/null 2>&1; then
    apt_install bubblewrap
fi

PIP="$PY -m pip install --quiet --disable-pip-version-check"
"$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null
# The pinned CPU build first: an unpinned torch may pull a multi-GB CUDA build, and the
# project's range admits 2.13.0, so nothing after this installs a heavier one.
$PIP torch==2.13.0
# The course's environment (what students' notebooks may import, declared in the rubric):
# d2l 1.0.3 pins old numpy/matplotlib/torch, so it goes in without its pins, what it imports
# beside it (scripts/course-requirements.txt).
$PIP -r scripts/course-requirements.txt torch==2.13.0
$PIP --no-deps d2l==1.0.3
if [ "${1:-}" = test ]; then
    # headless Chromium renders the class report in a test
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    # a CJK font: the class report's plots are laid out (and screenshot-tested) in zh-CN/zh-TW
    fc-list 2>/dev/null | grep -q "Noto Sans CJK" || apt_install fonts-noto-cjk
    $PIP -e '.[test]' torch==2.13.0
else
    $PIP -e . torch==2.13.0
fi
echo "$PY" > .grader-python
echo "grader installed for $PY; run it as: scripts/run grader ... (or $(dirname "$PY")/grader ...)"
