"""Writes the hostile notebooks of tests/hostile/: the reference solution plus one attack each.

Run: python tests/hostile/build.py. Each case says where its cell goes and what score it has
earned; tests/test_hostile.py grades them all in one sandboxed batch.
Paths an attack aims at are fixed (HOSTILE_ROOT) so the notebooks can be committed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOSTILE_ROOT = "/tmp/grader-hostile"  # the test puts its rubric, cache and --out under here
PORT = 47811  # the test listens here on 127.0.0.1

# name -> (after which tagged cell the attack goes ("end" = last cell; None = it replaces the cell
# named by the third field), attack source, cells replaced ({tag: source}, or a tag for the attack
# itself), total score earned). Attacks that read files replace exercise 3, whose failure message
# quotes the exception, so anything they managed to read would reach the results.
CASES: dict[str, tuple[str | None, str, dict[str, str] | str, float | None]] = {
    "sys_exit": ("cell4", "import sys\nsys.exit(3)", {}, 100),
    "raise_systemexit": ("cell4", "raise SystemExit('bye')", {}, 100),
    "os_exit": ("end", "import os\nos._exit(0)", {}, 100),
    "kill_parent": ("cell4", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                             "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
                             "    if pid != os.getpid():\n"
                             "        try:\n            os.kill(pid, signal.SIGKILL)\n"
                             "        except OSError:\n            pass", {}, 100),
    "output_flood": ("cell4", "chunk = 'x' * 1_000_000\nfor _ in range(1000):\n    print(chunk)", {}, 100),
    "spin_ignoring_sigint": ("end", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", {}, 100),
    "sleep_forever": ("cell9", "import time\ntime.sleep(10**6)", {}, 100),
    "memory_bomb": ("cell4", "import torch\nbig = torch.empty(2**34, dtype=torch.uint8)\nbig.fill_(1)", {}, 100),
    "fork_bomb": ("end", "import os, time\nfor _ in range(1000):\n    if os.fork() == 0:\n        time.sleep(987654)\n"
                         "        os._exit(0)", {}, 100),
    "tcp_connect": ("cell4", f"import socket\ns = socket.create_connection(('127.0.0.1', {PORT}), timeout=2)\n"
                             "s.sendall(b'MARKER-NETWORK')", {}, 100),
    # a walk of the whole tree, where a grader's files would most likely be first, that reports
    # what it has found after 2 s: under a loaded CI machine a walk of '/' can outlast the 4 s cell
    "find_rubric": (None, "import os, time\nfound, stop = [], time.monotonic() + 2\n"
                           "for start in ['/tmp', '/root', '/home', '/work', '/var', '/srv', '/opt', '/']:\n"
                           "    for top, dirs, files in os.walk(start):\n"
                           "        if top.startswith(('/proc', '/sys', '/dev')) or time.monotonic() > stop:\n"
                           "            dirs[:] = []\n            continue\n"
                           "        for f in files:\n            if f.endswith(('.yaml', '.ipynb', '.csv')) or f.startswith('expected-'):\n"
                           "                try:\n                    found.append(open(os.path.join(top, f), errors='replace').read()[:300])\n"
                           "                except OSError:\n                    pass\n"
                           "found.sort(key=lambda t: 'MARKER' not in t)\n"
                           "raise RuntimeError('FOUND: ' + ' | '.join(found))", "ex3", 90),
    "read_known_paths": (None, f"texts = []\nfor p in ['{HOSTILE_ROOT}/rubric/autograd.yaml', '{HOSTILE_ROOT}/reference/autograd.ipynb',\n"
                                f"          '{HOSTILE_ROOT}/out/grades.csv', '{HOSTILE_ROOT}/subs/reference.ipynb', '/root/.cache/grader']:\n"
                                "    try:\n        texts.append(open(p).read()[:300])\n    except OSError as e:\n        texts.append(str(e))\n"
                                "raise RuntimeError('READ: ' + ' | '.join(texts))", "ex3", 90),
    "overwrite_results": ("end", "import json, os\nforged = {'submission': 'reference', 'status': 'graded', 'score': 0}\n"
                                 f"for p in ['{HOSTILE_ROOT}/out/reference.json', '{HOSTILE_ROOT}/out/grades.csv',\n"
                                 f"          '{HOSTILE_ROOT}/out/typical_mistakes.json', '{HOSTILE_ROOT}/rubric/autograd.yaml']:\n"
                                 "    try:\n        os.makedirs(os.path.dirname(p), exist_ok=True)\n"
                                 "        open(p, 'w').write(json.dumps(forged))\n    except OSError:\n        pass", {}, 100),
    "daemon": ("end", "import subprocess, sys\nsubprocess.Popen(['sleep', '987654'], start_new_session=True)\n"
                      "subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n"
                      "    time.sleep(987654)'], start_new_session=True)", {}, 100),
    "patched_allclose": ("cell2", "import torch\ntorch.allclose = lambda *a, **k: True\n"
                                  "torch.Tensor.__eq__ = lambda self, other: torch.tensor(True)\n"
                                  "torch.testing.assert_close = lambda *a, **k: None",
                         {"cell3": "y = 3 * torch.dot(x, x)  # wrong\ny"}, 93),
    "patched_json": ("end", "import json\njson.dumps = lambda *a, **k: '{\"score\": 100}'\njson.loads = lambda *a, **k: {'score': 100}",
                     {}, 100),
    "forged_capture": ("cell4", "import json\nfrom IPython.display import publish_display_data\n"
                                "fake = {'nonce': 'guess', 'results': {'sum-gradient/grad-is-ones/value': "
                                "{'v': {'type': 'tensor', 'dtype': 'float32', 'shape': [4], 'values': [1, 1, 1, 1]}}}}\n"
                                "publish_display_data({'application/vnd.grader.capture.v1+json': fake})\n"
                                "print(json.dumps(fake))",
                       {"cell6": "x.grad.zero_()\ny = x.sum() * 2  # wrong\ny.backward()\nx.grad"}, 95),
    "fill_disk": ("end", "import os\nfor i in range(20):\n    try:\n        with open(f'/work/big{i}', 'wb') as f:\n"
                         "            f.write(b'0' * (60 << 20))\n    except OSError as e:\n        print(e)\n"
                         "with open('/tmp/big', 'wb') as f:\n    f.write(b'0' * (1 << 30))", {}, 100),
    "write_python_env": ("end", "import torch, os\np = os.path.join(os.path.dirname(torch.__file__), '__init__.py')\n"
                                "open(p, 'a').write('\\nraise SystemExit(\"owned\")\\n')", {}, 100),
    "read_environment": (None, "import os\nraise RuntimeError('ENV: ' + repr(dict(os.environ)))", "ex3", 90),
    "segfault": ("end", "import ctypes\nctypes.string_at(0)", {}, 100),
    # kill(-1) reaches only this sandbox's own processes (other than the caller): nothing is lost
    "kill_everything": ("cell9", "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass", {}, 100),
}


def build() -> None:
    ref = json.loads((ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb").read_text(encoding="utf-8"))
    for old in HERE.glob("*.ipynb"):
        old.unlink()
    for name, (after, attack, replace, _) in CASES.items():
        if isinstance(replace, str):
            replace = {replace: attack}
        nb = json.loads(json.dumps(ref))
        cells = []
        for cell in nb["cells"]:
            cell["source"] = _without_solution_markers(cell["source"])
            tags = cell.get("metadata", {}).get("tags", [])
            for tag, src in replace.items():
                if tag in tags:
                    cell["source"] = src
            cells.append(cell)
            if after in tags:
                cells.append(_attack(name, attack))
        if after == "end":
            cells.append(_attack(name, attack))
        nb["cells"] = cells
        (HERE / f"{name}.ipynb").write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _without_solution_markers(source: str | list[str]) -> str | list[str]:
    """The reference's source as a student would hand it in: without its solution markers."""
    if isinstance(source, str):
        return source
    kept = [line for line in source if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
    if kept and kept[-1].endswith("\n") and len(kept) < len(source):
        kept[-1] = kept[-1][:-1]
    return kept


def _attack(name: str, source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"attack-{name}"[:64].replace("_", "-"),
            "metadata": {}, "outputs": [], "source": source}


if __name__ == "__main__":
    build()
    print(f"wrote {len(CASES)} hostile notebooks to {HERE}", file=sys.stderr)
