"""The one exception type the CLI turns into a single line for the user."""


class UserError(Exception):
    """Bad input or a state the user can fix.

    The CLI prints the message alone (no traceback) and exits 1, so the message must name
    the problem and the fix. Raising it must never leave a half-written file behind.
    """
