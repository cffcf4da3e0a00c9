"""What a failed job says: what is wrong and what to do, not a raw Python exception.

A job runs unattended, and its error is read later by an administrator in ``jobs status``,
``jobs.log`` or ``cron.log``. ``explain`` turns the operating-system errors a job can meet (a
folder that is a file, a file it may not write, a full disk) into one line naming the path,
relative to the data directory when it is inside it.
"""

import errno
from pathlib import Path

from .errors import HelplineError


def _shown(path, data_dir):
    """:returns: ``path`` relative to ``data_dir`` when inside it, else as given; folders end with ``/``."""
    path = Path(path)
    try:
        text = str(path.relative_to(data_dir))
    except ValueError:
        text = str(path)
    return text + "/" if path.is_dir() else text


def _not_a_folder(path, data_dir):
    """:returns: the first parent of ``path`` (or itself) inside ``data_dir`` that exists and is no folder."""
    path = Path(path)
    for candidate in (*reversed(path.parents), path):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


def explain(error, data_dir):
    """One line for a job's failure.

    :param error: the exception the job raised.
    :param data_dir: the data directory (paths inside it are shown relative to it).
    :returns: ``HelplineError`` messages as they are; ``OSError`` as what is wrong with which path and
        what to do; anything else as ``Type: message``.
    """
    if isinstance(error, HelplineError):
        return str(error)
    if isinstance(error, OSError) and error.filename:
        data_dir = Path(data_dir)
        path = Path(error.filename)
        blocker = _not_a_folder(path, data_dir) if error.errno in (errno.EEXIST, errno.ENOTDIR) else None
        if blocker is not None:
            name = _shown(blocker, data_dir)
            return (f"{name}/ is a file, not a folder: move it away (mv {blocker} {blocker}.old) "
                    f"and the job writes the folder on its next try.")
        if error.errno in (errno.EACCES, errno.EPERM):
            return (f"cannot write {_shown(path, data_dir)}: permission denied. The data directory and its "
                    f"files must belong to the account that runs the jobs (chown -R that account {data_dir}).")
        if error.errno == errno.ENOSPC:
            return (f"no space left on the disk of {path.parent} while writing {path.name}: free some space; "
                    f"the job tries again.")
        if error.errno == errno.EROFS:
            return f"cannot write {_shown(path, data_dir)}: the disk is read-only (remount it read-write)."
        return f"{_shown(path, data_dir)}: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"
