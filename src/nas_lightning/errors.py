"""The one exception users see as a single line (see ``__main__``): bad config, data or files."""


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (libraries' messages span many), or its type."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class UserInputError(Exception):
    """Raised for anything the user can fix; the message names the key or file and what is allowed."""


class Interrupted(BaseException):
    """Ctrl-C or a scheduler's SIGTERM, raised by the CLI's signal handler. Not a ``KeyboardInterrupt``:
    Lightning turns that into a silent ``exit(1)``, while any other exception it re-raises after tearing
    down, so it reaches the CLI. The exit code is the shell's for the signal: 128 + its number."""

    def __init__(self, signum: int = 2):
        super().__init__(signum)
        self.exit_code = 128 + signum
