"""A throwaway PostgreSQL cluster on loopback for the tests (standard library only).

`.ci/run` starts one before `make test` and stops it after:

    eval "$(python3 tests/postgres_cluster.py start)"   # exports CAMEO_TEST_POSTGRES_URL
    python3 tests/postgres_cluster.py stop "$CAMEO_TEST_POSTGRES_DIR"

The tests start one of their own when that variable is unset (tests/postgres.py). The cluster
lives in a temporary directory, listens on a free loopback port, and runs with fsync off: it
holds nothing worth keeping. PostgreSQL refuses to run as root, so when the tests run as root
the server runs as the `postgres` user, which the distribution's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

MINIMUM_MAJOR = 15


def server_binaries() -> Path | None:
    """The newest PostgreSQL (15 or later) bin directory on this machine, if any."""
    candidates: list[tuple[int, Path]] = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        major = Path(initdb).parent.parent.name
        if major.isdigit():
            candidates.append((int(major), Path(initdb).parent))
    on_path = shutil.which("initdb")
    if on_path:
        version = subprocess.run(
            [on_path, "--version"], capture_output=True, text=True, check=False
        ).stdout
        digits = version.split()[-1].split(".")[0] if version.split() else ""
        if digits.isdigit():
            candidates.append((int(digits), Path(on_path).parent))
    usable = [found for found in candidates if found[0] >= MINIMUM_MAJOR]
    return max(usable)[1] if usable else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def start() -> tuple[str, Path]:
    """Start a cluster; return its URL and directory (pass the directory to `stop`)."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError(f"No PostgreSQL {MINIMUM_MAJOR}+ server binaries on this machine.")
    directory = Path(tempfile.mkdtemp(prefix="cameo-pg-"))
    if os.geteuid() == 0:
        server_user = pwd.getpwnam("postgres")
        os.chown(directory, server_user.pw_uid, server_user.pw_gid)
    data, log = directory / "data", directory / "server.log"
    port = _free_port()
    subprocess.run(
        _as_server_user(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_server_user(
            [
                str(binaries / "pg_ctl"),
                "start",
                "-w",
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
            ]
        ),
        check=True,
        capture_output=True,
    )
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", directory


def stop(directory: Path) -> None:
    binaries = server_binaries()
    if binaries is not None and (directory / "data").exists():
        subprocess.run(
            _as_server_user(
                [str(binaries / "pg_ctl"), "stop", "-D", str(directory / "data"), "-m", "immediate"]
            ),
            check=False,
            capture_output=True,
        )
    shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        url, directory = start()
        print(f"export CAMEO_TEST_POSTGRES_URL={shlex.quote(url)}")
        print(f"export CAMEO_TEST_POSTGRES_DIR={shlex.quote(str(directory))}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print("usage: postgres_cluster.py start | stop DIRECTORY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
