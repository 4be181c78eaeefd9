"""Errors the user caused (bad rubric, missing file, bad flag): one line, exit code 2."""


class InputError(Exception):
    """Bad input. ``str(e)`` is the whole one-line message, naming the file and place."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 key: str | None = None):
        where = path or ""
        if path and line:
            where += f":{line}"
        if key:
            where += f": {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)


class RubricError(InputError):
    pass
