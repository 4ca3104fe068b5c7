"""The platform's web process for tests that need the real one: gunicorn with
platform/gunicorn.conf.py, on a port the OS picks, its output in a file."""

import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running_gunicorn(env: dict, output: Path):
    """Start gunicorn with `env`, yield its base URL once it listens, stop it (SIGTERM) at the end."""
    command = [
        sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
        "--bind", "127.0.0.1:0", "--no-control-socket", "config.wsgi:application",
    ]  # fmt: skip
    with output.open("wb") as sink:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline, base = time.monotonic() + 60, None
        while base is None and time.monotonic() < deadline and server.poll() is None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", output.read_text())
            base = found and found[1]
            time.sleep(0.1)
        assert base, output.read_text()[:3000]
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
