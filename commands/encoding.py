"""Text in and out of a terminal whose locale is not UTF-8 (a Latin-1 ``LANG``, a bare ``C``).

Output never fails on encoding: to a terminal that cannot show a character it is printed as
``?`` and one note at the end says so; to a file or a pipe it is written as UTF-8, so nothing is
lost. Input that is not valid text in the locale (bytes the locale cannot decode, or UTF-8 typed
into a Latin-1 locale, which would be stored as mojibake) is refused before anything runs.
"""

import codecs
import sys

_ERRORS = "helpline-replace"
_replaced = []


def _replace(error):
    _replaced.append(error.object[error.start:error.end])
    return "?" * (error.end - error.start), error.end


def _is_utf8(encoding):
    try:
        return codecs.lookup(encoding or "ascii").name == "utf-8"
    except LookupError:
        return False


def setup_streams():
    """Make stdout and stderr safe for any text: replace-and-note on a non-UTF-8 terminal, UTF-8
    into files and pipes. Streams already UTF-8 are left as they are."""
    codecs.register_error(_ERRORS, _replace)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or not hasattr(stream, "reconfigure") or _is_utf8(getattr(stream, "encoding", None)):
            continue
        try:
            if stream.isatty():
                stream.reconfigure(errors=_ERRORS)
            else:
                stream.reconfigure(encoding="utf-8")
        except (ValueError, OSError):  # a closed or odd stream: leave it as it is
            continue


def replacement_note():
    """:returns: one line to print at the end when characters were shown as ``?``, else None."""
    if not _replaced:
        return None
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    return (f"Note: some characters cannot be shown in this terminal's encoding ({encoding}) and were printed as "
            f"'?'; what is stored is intact. A UTF-8 locale (export LANG=C.UTF-8) shows them.")


def check_arguments(args, encoding=None):
    """Refuse command-line text that the locale could not have meant.

    :param args: the arguments as Python decoded them (``sys.argv[1:]``).
    :param encoding: the encoding they were decoded with (default: the file system encoding, which
        is the locale's, or UTF-8 in Python's UTF-8 mode).
    :returns: None when all are fine, else a one-line error message.
    """
    encoding = encoding or sys.getfilesystemencoding()
    for arg in args:
        if arg.isascii():
            continue
        if any("\udc80" <= ch <= "\udcff" for ch in arg):
            shown = arg.encode(encoding, "surrogateescape").decode("ascii", "backslashreplace")
            fix = ("Set the terminal to send UTF-8" if _is_utf8(encoding)
                   else "Set a UTF-8 locale (export LANG=C.UTF-8)")
            return (f"'{shown}' is not valid text in this terminal's encoding ({encoding}); nothing was stored. "
                    f"{fix} and type it again.")
        if not _is_utf8(encoding):
            try:
                raw = arg.encode(encoding)
                raw.decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue  # real text of the locale (say, Latin-1 'café')
            return (f"an argument arrived as UTF-8 text but this terminal's locale is {encoding}: it would be "
                    f"stored garbled. Set a UTF-8 locale (export LANG=C.UTF-8) and type it again; nothing "
                    f"was stored.")
    return None
