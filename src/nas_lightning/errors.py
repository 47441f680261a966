"""The one exception users see as a single line (see ``__main__``): bad config, data or files."""


class UserInputError(Exception):
    """Raised for anything the user can fix; the message names the key or file and what is allowed."""


class Interrupted(BaseException):
    """Ctrl-C, raised by the CLI's SIGINT handler. Not a ``KeyboardInterrupt``: Lightning turns that into
    a silent ``exit(1)``, while any other exception it re-raises after tearing down, so it reaches the CLI."""
