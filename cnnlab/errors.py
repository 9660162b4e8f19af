"""Errors a user can cause. The CLI prints them as one ``Error: ...`` line."""


class CnnlabError(Exception):
    """Base class: the message says what went wrong and how to fix it."""

    exit_code = 1


class ConfigError(CnnlabError):
    """The YAML config or a --set override is invalid."""

    exit_code = 2


class DataError(CnnlabError):
    """A dataset or image cannot be found or read."""


class ModelError(CnnlabError):
    """A model cannot be built, loaded, or does not have the asked-for layer."""


class RunError(CnnlabError):
    """A run directory is missing, incomplete or cannot be written."""


class TrainingInterrupted(RunError):
    """Ctrl-C or SIGTERM stopped training at a safe point; the run can be resumed."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code  # 128 + signal number, as a shell reports it


class TrainingDiverged(RunError):
    """The loss became NaN or infinite; the best model so far is kept."""


def did_you_mean(given: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices``, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[given.lower()]] if given.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its class name when it has none),
    for one-line errors that pass on what Keras or PIL said."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:limit] if limit else line


_UNSAFE = None


def printable(name) -> str:
    """A name from disk (a file, a folder, a class) as it may be shown: bytes that are not
    UTF-8 as \\xNN, and line breaks, terminal controls and U+2028/U+2029 as escapes, so a
    name can never start a line of its own (a forged "Error: ...") or move the cursor."""
    global _UNSAFE
    import re

    if _UNSAFE is None:
        _UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    text = str(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode's surrogates for bytes that are not UTF-8
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def plot_label(name) -> str:
    """``printable`` for matplotlib: also $ escaped, so a name is never read as mathtext."""
    return printable(name).replace("$", r"\$")
