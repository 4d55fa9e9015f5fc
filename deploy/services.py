"""Local PostgreSQL, Redis and S3 (moto) servers for a scale test, on loopback ports.

    python deploy/services.py [WORKDIR] [BUCKET]   # start all three, print `export` lines, Ctrl-C stops

or ``with local_services(workdir) as svc: ...`` from another script. Missing Debian packages
(postgresql, redis-server) are installed with apt-get. Logs go into ``workdir``; the Postgres data
directory is a throwaway temp dir (owned by the ``postgres`` user when run as root), removed on stop.
No project imports: this file is loaded by path.
"""
# No `from __future__ import annotations`: with it, @dataclass needs the module in sys.modules,
# which a bare importlib spec_from_file_location/exec_module load does not provide.

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0
IS_ROOT = os.geteuid() == 0


@dataclass
class Services:
    postgres_url: str  # postgresql://dagster:dagster@127.0.0.1:PORT/dagster
    postgres: dict  # {"hostname","port","username","password","db_name"} for dagster.yaml
    redis_url: str  # redis://127.0.0.1:PORT/0
    s3_endpoint: str  # http://127.0.0.1:PORT
    bucket: str

    def env(self) -> dict[str, str]:
        """Environment variables for child processes (dagster, celery workers, the test driver)."""
        pg = self.postgres
        return {
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "GAP_MONITOR_PG_HOST": pg["hostname"],
            "GAP_MONITOR_PG_PORT": str(pg["port"]),
            "GAP_MONITOR_PG_USER": pg["username"],
            "GAP_MONITOR_PG_PASSWORD": pg["password"],
            "GAP_MONITOR_PG_DB": pg["db_name"],
            "GAP_MONITOR_REDIS_URL": self.redis_url,
        }


# --- helpers -------------------------------------------------------------------------------


def free_port(preferred: int) -> int:
    """``preferred`` if it can be bound on 127.0.0.1, else a port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers do: a port left in TIME_WAIT by the previous run is free, a listener not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def apt_install(package: str) -> None:
    """``apt-get install -y package``; ``apt-get update`` only if the first try fails."""
    if not IS_ROOT:
        raise RuntimeError(f"{package} is not installed and apt-get needs root: install it first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", package]
    print(f"installing {package} with apt-get ...", flush=True)
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(name: str, ready: Callable[[], bool], proc: subprocess.Popen, log: Path) -> None:
    """Poll ``ready()`` until true; fail with the log's tail if ``proc`` dies or time runs out."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; {log}:\n{log_tail(log)}")
        if time.monotonic() - t0 > START_TIMEOUT:
            raise RuntimeError(
                f"{name} not up after {START_TIMEOUT:.0f} s; {log}:\n{log_tail(log)}"
            )
        time.sleep(0.1)


def spawn(cmd: list[str], log: Path, **kw) -> subprocess.Popen:
    # A new session: Ctrl-C reaches only Python, which then stops the servers in order.
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kw,
        )


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if the process is still there after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- PostgreSQL ----------------------------------------------------------------------------


def pg_bindir() -> Path:
    """Newest /usr/lib/postgresql/*/bin with initdb and pg_ctl, else PATH, else apt-get."""
    for attempt in range(2):
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
        for d in reversed(dirs):
            if all(os.access(f"{d}/{exe}", os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
                return Path(d)
        initdb = shutil.which("initdb")
        if initdb and shutil.which("pg_ctl"):
            return Path(os.path.realpath(initdb)).parent  # e.g. /usr/local/bin -> the real bin/
        if attempt == 0:
            apt_install("postgresql")
    raise RuntimeError("initdb/pg_ctl not found even after installing postgresql")


@contextmanager
def postgres(workdir: Path) -> Iterator[tuple[str, dict]]:
    import psycopg2

    bindir, port, log = pg_bindir(), free_port(55432), workdir / "postgres.log"

    def pg(exe: str, *args: str) -> list[str]:
        # PostgreSQL refuses to run as root: run it as the postgres user then.
        cmd = [str(bindir / exe), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if IS_ROOT else cmd

    def ready() -> bool:  # trust auth: the superuser needs no password
        try:
            psycopg2.connect(
                host="127.0.0.1", port=port, user="postgres", connect_timeout=2
            ).close()
            return True
        except psycopg2.OperationalError:
            return False

    # The data dir lives in the system temp dir: the postgres user must reach it, which it cannot
    # under e.g. /root. The log file is opened by this process, so it can live in workdir anyway.
    t0, tmp = time.monotonic(), Path(tempfile.mkdtemp(prefix="gapmon-pg-"))
    data = tmp / "data"
    try:
        if IS_ROOT:
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--user-group", "postgres"], check=True)
            shutil.chown(tmp, "postgres", "postgres")
        # --no-sync: a throwaway cluster needs no fsync at init.
        initdb = pg(
            "initdb", "-D", str(data), *"-U postgres -A trust -E UTF8 --locale=C --no-sync".split()
        )
        with open(log, "ab") as out:
            subprocess.run(initdb, stdout=out, stderr=out, check=True, cwd=tmp)
        # The postmaster runs in the foreground (under runuser), its output into our log file;
        # max_connections: room for the dagster daemon, celery workers and their runs.
        settings = [
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={tmp}",
            "max_connections=200",
        ]
        cmd = pg("postgres", "-D", str(data), "-p", str(port), *(f"-c{s}" for s in settings))
        proc = spawn(cmd, log, cwd=tmp)
        try:
            wait_until("postgres", ready, proc, log)
            conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres")
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE dagster LOGIN PASSWORD 'dagster'")
                cur.execute("CREATE DATABASE dagster OWNER dagster")
            conn.close()
            print(f"postgres up on 127.0.0.1:{port} ({time.monotonic() - t0:.1f} s)", flush=True)
            url = f"postgresql://dagster:dagster@127.0.0.1:{port}/dagster"
            yield url, dict(hostname="127.0.0.1", port=port, username="dagster",
                            password="dagster", db_name="dagster")  # fmt: skip
        finally:
            # pg_ctl signals the postmaster itself (a signal to runuser becomes SIGTERM and, 2 s
            # later, SIGKILL); "immediate" only if "fast" did not finish within 30 s.
            for mode in ("fast", "immediate"):
                if proc.poll() is None:
                    stop_cmd = pg("pg_ctl", "stop", "-D", str(data), "-m", mode, "-w", "-t", "30")
                    subprocess.run(stop_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- Redis and moto ------------------------------------------------------------------------


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    import redis

    if not shutil.which("redis-server"):
        apt_install("redis-server")
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("redis-server not found even after installing it")
    port, log, t0 = free_port(56379), workdir / "redis.log", time.monotonic()
    url = f"redis://127.0.0.1:{port}/0"

    def ready() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
        except redis.RedisError:
            return False

    (workdir / "redis").mkdir(exist_ok=True)
    args = f"--bind 127.0.0.1 --port {port} --appendonly no --daemonize no".split()
    # No RDB snapshots (--save ""); log to stdout (--logfile ""), which spawn() sends to the log.
    args += ["--save", "", "--logfile", "", "--dir", str(workdir / "redis")]
    proc = spawn([exe, *args], log)
    try:
        wait_until("redis", ready, proc, log)
        print(f"redis up on 127.0.0.1:{port} ({time.monotonic() - t0:.1f} s)", flush=True)
        yield url
    finally:
        stop(proc)


@contextmanager
def moto_s3(workdir: Path, bucket: str) -> Iterator[str]:
    import boto3

    port, log, t0 = free_port(55000), workdir / "moto.log", time.monotonic()
    endpoint = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return True
        except urllib.error.HTTPError:
            return True  # an HTTP error is an answer too
        except OSError:
            return False

    proc = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log)
    try:
        wait_until("moto (S3)", ready, proc, log)
        creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **creds)
        s3.create_bucket(Bucket=bucket)
        took = time.monotonic() - t0
        print(f"moto S3 up on {endpoint}, bucket {bucket} ({took:.1f} s)", flush=True)
        yield endpoint
    finally:
        stop(proc)


@contextmanager
def local_services(workdir: str | Path, bucket: str = "gap-monitor") -> Iterator[Services]:
    """Start PostgreSQL, Redis and moto S3; yield their addresses; stop all (even on error)."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:  # unwinds in reverse order, each stop in its own finally
        pg_url, pg = stack.enter_context(postgres(workdir))
        redis_url = stack.enter_context(redis_server(workdir))
        endpoint = stack.enter_context(moto_s3(workdir, bucket))
        yield Services(pg_url, pg, redis_url, endpoint, bucket)


if __name__ == "__main__":
    # Ctrl-C and SIGTERM (e.g. from a CI runner) both unwind as KeyboardInterrupt, so the servers
    # are stopped; SIGINT is set explicitly as a shell ignores it for a job started with `&`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="gapmon-services-")
    try:
        with local_services(workdir, *sys.argv[2:3]) as svc:
            for k, v in svc.env().items():
                print(f"export {k}={v}")
            print(f"# postgres_url={svc.postgres_url}  logs in {workdir}; Ctrl-C stops", flush=True)
            while True:
                signal.pause()
    except KeyboardInterrupt:
        print("stopped", flush=True)
