"""``grader review DIR``: the answers awaiting manual review in a graded folder, less those the
instructor has already scored in DIR/overrides.yaml."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def run(args) -> int:
    from .. import overrides as ov
    from ..gradebook import awaiting_review

    db_path = Path(args.dir) / "gradebook.sqlite"
    if not db_path.is_file():
        raise InputError("no gradebook here: run grader grade --out DIR first", str(db_path))
    done = {(o.submission, o.check) for o in ov.load(Path(args.dir) / "overrides.yaml")}
    rows = awaiting_review(db_path)
    todo = [r for r in rows if (r[0], r[2]) not in done and (r[0], f"{r[1]}/{r[2]}") not in done]
    for sub_name, qid, name, score, max_score, message in todo:
        print(f"{sub_name}  {qid}/{name}  {score:g}/{max_score:g}  {message}")
    print(f"\n{len(todo)} awaiting review ({len(rows) - len(todo)} already in overrides.yaml). To set a score, add to "
          f"{Path(args.dir) / 'overrides.yaml'}:\n- submission: NAME\n  check: QUESTION/CHECK\n  score: N\n  comment: ...")
    return 0
