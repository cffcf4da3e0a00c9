"""One exception tree for everything a user can get wrong, and the exit codes it maps to.

Exit codes (a test checks each):

====  ==========================================================
0     success
1     a domain error: unknown ticket, transition not allowed, damaged store, ...
2     a usage error: a missing or malformed option (click's own code)
3     the store stayed locked by another process past the time-out
4     another process is running the same job (``sms send``, a scheduled job)
====  ==========================================================
"""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


class HelplineError(Exception):
    """Base of every error a user can cause or fix; the message says what to do next."""

    exit_code = EXIT_ERROR


class NotFound(HelplineError):
    """A ticket, officer, area or category that does not exist."""


class AmbiguousName(NotFound):
    """A typed name that is the name or alternative name of more than one area (an older config).

    ``candidates`` holds the canonical names it could mean, sorted; the commands ask which one at
    a terminal and fail with this one-line message otherwise.
    """

    def __init__(self, message, candidates):
        super().__init__(message)
        self.candidates = list(candidates)


class InvalidValue(HelplineError):
    """A value that cannot be used: a mistyped ticket ID, an invalid phone number, ..."""


class TransitionError(HelplineError):
    """A change the ticket lifecycle does not allow from the ticket's current status."""


class StoreDamaged(HelplineError):
    """The database or an archive file cannot be read; it is left byte for byte as it was."""


class StoreLocked(HelplineError):
    """Another process held the store's lock for longer than the time-out."""

    exit_code = EXIT_LOCKED


class ConfigError(HelplineError):
    """The data directory has no district yet, or its config file cannot be used."""


EXIT_BUSY = 4


class JobBusy(HelplineError):
    """Another process is running the same job (``sms send``, a scheduled job) right now."""

    exit_code = EXIT_BUSY


class GatewayAccountError(HelplineError):
    """The SMS gateway refused the account itself (Twilio 20003, 21408, 21606): the run stopped."""


class DiskFull(HelplineError):
    """The disk had no room for a write (a whole temporary copy of the file); nothing was replaced."""


class RunFailed(HelplineError):
    """A send, sync or job run finished, but some of its work failed for good (a text refused,
    given up on, or that would not render; a delivery found failed; a status that could not be
    fetched). The run's own changes are recorded; ``counts`` says what it did."""

    def __init__(self, message, counts=None):
        super().__init__(message)
        self.counts = dict(counts or {})
