"""Private instances of the real servers for the fault tests, to restart at will.

The PostgreSQL and RabbitMQ on 127.0.0.1's usual ports serve other runs at the same time: a fault
test never stops or restarts them. It starts servers of its own instead — the same binaries, on
free ports, with their data, logs, sockets and Erlang cookie in a temporary directory — restarts
those, and stops them and removes the directory however the test ends:

- `PrivatePostgres`: a throwaway cluster (initdb, trust authentication, fsync on), started and
  stopped by pg_ctl. initdb and the server refuse to run as root, so as root (CI) every PostgreSQL
  command runs as the `postgres` user through runuser, in a directory that user owns.
- `PrivateRabbitMQ`: a node of its own name and ports, no plugins (so no management listener), its
  own epmd on a port of its own (the shared node's epmd is not touched either).
- `Gunicorn`: the platform's web process (platform/gunicorn.conf.py) on a free port.

Each is a context manager; `close()` is idempotent and leaves nothing running.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on at this moment (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s\n{tail}")


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL to its whole session (it was started in a session of its own)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: $PG_BINDIR, Debian's newest /usr/lib/postgresql/N/bin, or PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_server_missing() -> str | None:
    """Why a private PostgreSQL cluster cannot be started here, or None."""
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl) to start a private cluster"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        return "running as root needs runuser and a postgres user to start a private cluster"
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own on a free port: `restart()` it at will."""

    def __init__(self, database: str = "moments"):
        self.bindir = postgres_bindir()
        self.database = database
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="moments-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_postgres = os.geteuid() == 0  # initdb and postgres refuse root
        if self.as_postgres:
            shutil.chown(self.dir, user="postgres")
        self.running = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *command: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}\n{self._log_tail()}")
        return done

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():  # trust: on 127.0.0.1 only, in a cluster that lives for one test
            cluster = ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"]
            self._run("initdb", "-D", str(self.data), *cluster)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options)
        self.running = True
        return self

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def copy_schema(self, source: dict) -> None:
        """The tables of the database `source` (Django's settings of a PostgreSQL database that is
        migrated) and its record of applied migrations, into this cluster's database: what `migrate`
        would make, in a fraction of its time. `migrate` afterwards only runs what is left."""
        env = {**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""}
        where = ["-h", source["HOST"] or "127.0.0.1", "-p", str(source.get("PORT") or 5432), "-U", source["USER"]]
        dumps = [
            [*where, "--schema-only", "--no-owner", "--no-privileges", source["NAME"]],
            [*where, "--data-only", "--table=django_migrations", source["NAME"]],
        ]
        sql = "".join(self._client("pg_dump", *args, env=env) for args in dumps)
        self._client("psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url, input=sql)

    def _client(self, program: str, *args: str, env: dict | None = None, input: str | None = None) -> str:
        done = subprocess.run(
            [str(self.bindir / program), *args], env=env, input=input, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr[-2000:]}")
        return done.stdout

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and their transactions rolled back, a clean shutdown;
        `immediate`: every process quits at once, as in a crash (the next start recovers from the WAL)."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")
        self.running = False

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)  # its backends exit when the postmaster is gone

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- RabbitMQ -----------------------------------------------------------------------------------


def rabbitmq_sbin() -> Path | None:
    """The RabbitMQ scripts that run as the calling user: $RABBITMQ_SBIN, Debian's
    /usr/lib/rabbitmq/bin (/usr/sbin/rabbitmq-server would switch to the rabbitmq user), or PATH."""
    if os.environ.get("RABBITMQ_SBIN"):
        return Path(os.environ["RABBITMQ_SBIN"])
    if Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        return Path("/usr/lib/rabbitmq/bin")
    found = shutil.which("rabbitmq-server")
    return Path(found).parent if found else None


def rabbitmq_server_missing() -> str | None:
    sbin = rabbitmq_sbin()
    if sbin is None or not (sbin / "rabbitmqctl").exists():
        return "no RabbitMQ server (rabbitmq-server, rabbitmqctl) to start a private node"
    if shutil.which("epmd") is None:
        return "no epmd (Erlang) to start a private RabbitMQ node"
    return None


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own: `restart()` stops the node (its process exits) and starts
    it again on the same data, as a broker's restart does; durable queues and persistent messages
    survive it, connections do not."""

    def __init__(self):
        self.sbin = rabbitmq_sbin()
        self.dir = Path(tempfile.mkdtemp(prefix="moments-faults-rabbitmq-"))
        self.node = f"moments-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.log = self.dir / "server.log"
        (self.dir / "enabled_plugins").write_text("[].\n")  # none: no management listener
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\n")
        (self.dir / "rabbitmq-env.conf").write_text(
            ""
        )  # not /etc/rabbitmq's: its node name and port are the shared node's
        self.server: subprocess.Popen | None = None
        self.epmd: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict:
        return {
            **os.environ,
            "HOME": str(self.dir),  # the Erlang cookie is made here, and read here by rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 90.0) -> "PrivateRabbitMQ":
        if self.epmd is None:  # our own epmd, in the foreground, so that close() ends it
            self.epmd = subprocess.Popen(
                ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                env=self._env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_until(lambda: port_open(self.epmd_port), 10, "epmd listening", self.epmd)
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                [str(self.sbin / "rabbitmq-server")],
                env=self._env(),
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: port_open(self.port), timeout, "RabbitMQ accepting connections", self.server, self.log)
        self._ctl("await_startup", timeout=timeout)
        return self

    def _ctl(self, *args: str, timeout: float = 60.0) -> None:
        done = subprocess.run(
            [str(self.sbin / "rabbitmqctl"), "-n", self.node, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        """The node stops and its process exits (rabbitmqctl stop with the pid file waits for it)."""
        if self.server is None or self.server.poll() is not None:
            return
        try:
            self._ctl("stop", str(self.dir / "rabbitmq.pid"), timeout=60)
            self.server.wait(timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            stop_process_group(self.server)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.server is not None and self.server.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.server.pid, signal.SIGKILL)
            if self.epmd is not None:
                stop_process_group(self.epmd, grace=5)
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- The web process ----------------------------------------------------------------------------


class Gunicorn:
    """The platform's web process as deployed (platform/gunicorn.conf.py: gthread, preloaded) on a
    free port of 127.0.0.1, with the suite's settings and the environment given."""

    def __init__(self, workdir: Path, env: dict, workers: int = 2, threads: int = 4):
        self.log = workdir / "gunicorn.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "LOG_LEVEL": "info",  # gunicorn says where it listens and boots each worker at info
            **env,
        }
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> "Gunicorn":
        command = [
            sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
            "--bind", "127.0.0.1:0", "--no-control-socket", "config.wsgi:application",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def listening():
            text = self.log.read_text(errors="replace")
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text)
            if found and text.count("Booting worker with pid") >= self.workers:
                self.url = found[1]
                return True
            return False

        wait_until(listening, timeout, "gunicorn listening", self.process, self.log)
        return self

    def close(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, grace=35)  # graceful_timeout is 30 s

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
