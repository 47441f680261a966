"""The one exception users see as a single line (see ``__main__``): bad config, data or files."""


class UserInputError(Exception):
    """Raised for anything the user can fix; the message names the key or file and what is allowed."""
