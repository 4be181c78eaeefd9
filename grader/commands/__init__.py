"""One module per command of ``grader`` (cli.py only parses the flags and dispatches here):

- ``check``: a student's notebook against the public checks (also ``--github``);
- ``grade``: a class, into a folder (gradebook, CSV, JSON per submission, feedback, formats);
- ``validate``: the rubric is sound and the reference scores full marks; ``--mutants``;
- ``release``: the student notebook made from the reference;
- ``report``: the class report of a graded folder; ``review``: what awaits manual review;
- ``gradescope``: the autograder zip, and what runs inside Gradescope (``gradescope-run``);
- ``doctor``: the protections, and real kernels started as grading starts them;
- ``options``: what several commands read from their flags (the rubric with its limits, the launcher).

Each command takes the parsed flags and returns the exit code; bad input is an ``InputError``.
"""
