"""Shared fixtures: a data directory per test, a district in it, and the installed CLI."""

import json
import os
import pty
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpline_core.district import init_district
from prism import prism_client_factory, prism_server  # noqa: F401  (fixtures for the Twilio tests)
from helpline_core.officers import add_officer
from helpline_core.store import Store

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # 11:30 in Srinagar

ROSTER = [
    # id, name, phone, areas, categories, role, lang
    ("rafiq", "Rafiq Ahmad", "09419000101", ["Khanyar", "Eidgah"], ["ration", "medicine"], "officer", "ur"),
    ("meena", "Meena Kumari", "09419000104", ["Khanyar"], ["ration", "doctor"], "officer", "hi"),
    ("tariq", "Tariq Mir", "09419000103", ["Hazratbal"], ["ration", "other"], "officer", "en"),
    ("nusrat", "Nusrat Jan", "09419000201", ["Khanyar", "Eidgah", "Hazratbal"], ["ration"], "verifier", "ur"),
]


def helpline_exe():
    """The installed console script beside this Python (a missing install fails the test)."""
    exe = Path(sys.executable).parent / "helpline"
    assert exe.exists(), f"helpline is not installed in this environment ({exe}); run pip install ."
    return str(exe)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def district(data_dir):
    """A Srinagar district with four officers; returns (config, store)."""
    config = init_district(data_dir, code="SXR", name="Srinagar")
    store = Store(data_dir)
    with store.transaction() as db:
        for officer_id, name, phone, areas, categories, role, lang in ROSTER:
            add_officer(db, config, officer_id, name=name, phone=phone, areas=areas, categories=categories,
                        role=role, lang=lang, actor="setup", now=NOW)
    return config, store


@pytest.fixture
def run_cli(data_dir):
    """Run the installed ``helpline`` with this test's data directory.

    ``run_cli(args, expect=0, input=None, env=None)`` returns the CompletedProcess and fails the
    test on any other exit code. Standard input is never a terminal here.
    """

    def run(args, expect=0, input=None, env=None, as_json=False):
        full_env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), HELPLINE_OPERATOR="op")
        full_env.update(env or {})
        result = subprocess.run([helpline_exe(), *args], input=input or "", capture_output=True, text=True,
                                env=full_env, timeout=60)
        assert result.returncode == expect, (
            f"helpline {' '.join(args)} exited {result.returncode}, expected {expect}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
        assert "Traceback" not in result.stderr, result.stderr
        if as_json:
            return json.loads(result.stdout)
        return result

    return run


def file_bytes(folder):
    """:returns: {relative path: bytes} of every file under ``folder`` except the lock file."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and p.name != "helpline.lock"}


def on_terminal(data_dir, args, answers):
    """Run ``helpline args`` with a terminal on stdin; type ``answers`` (lines). :returns: (exit, output)."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), HELPLINE_OPERATOR="op")
    proc = subprocess.Popen([helpline_exe(), *args], stdin=secondary, stdout=secondary, stderr=secondary, env=env,
                            close_fds=True)
    os.close(secondary)
    for answer in answers:
        os.write(primary, (answer + "\n").encode())
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    return proc.wait(timeout=30), output.decode()
