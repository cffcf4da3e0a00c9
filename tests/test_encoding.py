"""A terminal whose locale is not UTF-8: output never fails, input it could not have meant is refused."""

import os
import pty
import subprocess

from conftest import file_bytes, helpline_exe
from commands.encoding import check_arguments

DEVANAGARI = "राशन नहीं मिला"


def test_utf8_typed_into_a_latin1_locale_is_refused_and_latin1_text_is_kept():
    mojibake = DEVANAGARI.encode("utf-8").decode("latin-1")  # what Python makes of it in a Latin-1 locale
    message = check_arguments(["log", "--description", mojibake], "iso8859-1")
    assert message.startswith("an argument arrived as UTF-8 text but this terminal's locale is iso8859-1")
    assert check_arguments(["log", "--description", "café"], "iso8859-1") is None
    assert check_arguments(["log", "--description", DEVANAGARI], "utf-8") is None
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")
    assert "'caf\\xe9' is not valid text in this terminal's encoding (utf-8)" in check_arguments([undecodable], "utf-8")


def test_bytes_the_locale_cannot_decode_are_refused_and_nothing_is_stored(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    before = file_bytes(data_dir)
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), LC_ALL="C.UTF-8")
    result = subprocess.run([helpline_exe(), "log", "--phone", "9876543210", "--area", "Khanyar", "--category",
                             "ration", "--description", b"caf\xe9"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.decode() == ("Error: 'caf\\xe9' is not valid text in this terminal's encoding (utf-8); "
                                      "nothing was stored. Set the terminal to send UTF-8 and type it again.\n")
    assert file_bytes(data_dir) == before


def logged(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "ravi", "--name", "रवि कुमार", "--phone", "9419000111", "--area", "Khanyar",
             "--category", "ration", "--lang", "hi"])
    return run_cli(["log", "--phone", "9876543210", "--area", "Khanyar", "--category", "ration", "--description",
                    DEVANAGARI, "--json"], as_json=True)["id"]


def test_a_latin1_pipe_gets_utf8(run_cli, data_dir):
    ticket = logged(run_cli)
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), PYTHONIOENCODING="latin-1")
    result = subprocess.run([helpline_exe(), "show", ticket], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert DEVANAGARI in result.stdout.decode("utf-8") and result.stderr == b""


def on_a_terminal(args, env):
    """Run ``helpline`` with stdout on a pseudo-terminal; :returns: (exit code, screen text, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([helpline_exe(), *args], env=env, stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("latin-1"), err


def test_a_latin1_terminal_shows_question_marks_and_says_so_once(run_cli, data_dir):
    ticket = logged(run_cli)
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), PYTHONIOENCODING="latin-1")
    for args in (["show", ticket], ["officer", "list"]):
        code, screen, err = on_a_terminal(args, env)
        assert code == 0, (args, err)
        assert "????" in screen and "UnicodeEncodeError" not in err, (args, screen, err)
        assert err.count("Note: some characters cannot be shown in this terminal's encoding (iso8859-1)") == 1, err


def test_an_answer_typed_in_utf8_into_a_latin1_prompt_is_asked_again(run_cli, data_dir):
    """``note`` asks for its text on a terminal; the terminal sends UTF-8 while the locale says Latin-1."""
    import select
    import time

    ticket = logged(run_cli)
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), PYTHONIOENCODING="latin-1", HELPLINE_OPERATOR="op")
    master, slave = pty.openpty()
    proc = subprocess.Popen([helpline_exe(), "note", ticket], env=env, stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE)
    os.close(slave)
    screen = b""

    def read_until(text, seconds=30):
        nonlocal screen
        deadline = time.monotonic() + seconds
        while text not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(master, 4096)
                except OSError:
                    break
        assert text in screen, screen

    os.write(master, "पानी नहीं\r".encode("utf-8"))  # the terminal keeps it until the prompt reads it
    read_until(b"arrived as UTF-8 text")
    os.write(master, b"no water\r")
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0, proc.stderr.read()
    assert proc.stderr.read().decode().count("Note:") == 2  # the prompt, asked twice
    history = run_cli(["show", ticket, "--json"], as_json=True)["history"]
    assert history[-1]["note"] == "no water"
