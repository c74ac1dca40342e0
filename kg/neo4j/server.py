"""Run a real Neo4j 5.26 Community server without Docker or a Neo4j install (tests, CI, local use).

Maven fetches Neo4j's jars from Maven Central once; a small Java launcher
(``kg/neo4j/java/``, shipped in the wheel as package data) starts the embedded DBMS with the Bolt connector (and, on request, the HTTP
connector with Neo4j Browser at ``/browser/``) under Java 17. Pure standard library: the ``neo4j``
Python driver is not needed here.

Where things live (never in the working tree)::

    $KG_NEO4J_HOME (default ~/.cache/kgloom/neo4j, or $XDG_CACHE_HOME/kgloom/neo4j)
      m2/       the local Maven repository (~170 MB after the first build)
      build/    classes/ + lib/ (the launcher and Neo4j's jars, ~140 MB) + .kgloom-stamp

Use::

    >>> from kg.neo4j.server import Neo4jServer
    >>> with Neo4jServer(password="kgloom-password") as srv:  # doctest: +SKIP
    ...     print(srv.uri)                                     # bolt://127.0.0.1:PORT

or from a shell: ``kg neo4j build`` (fetch the jars, compile the launcher) and ``kg neo4j start``.

Environment: ``KG_NEO4J_HOME`` (cache folder), ``KG_NEO4J_JAVA_HOME`` (a Java 17/21 to use),
``KG_NEO4J_SRC`` (the folder holding the launcher's ``pom.xml``), ``KG_NEO4J_HEAP`` (JVM heap,
default 512m), ``KG_NEO4J_PAGECACHE`` (page cache, default 256m), ``KG_NEO4J_JVM_OPTS`` (more JVM
options, e.g. ``-XX:TieredStopAtLevel=1`` starts ~25% faster but runs queries slower).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from kg.errors import StoreConnectionError

__all__ = [
    "DEFAULT_PASSWORD",
    "JVM_FLAGS",
    "NEO4J_VERSION",
    "Neo4jServer",
    "Neo4jServerError",
    "Neo4jUnavailableError",
    "available",
    "build",
    "build_dir",
    "find_java_home",
    "find_maven",
    "neo4j_home",
    "start",
    "stop",
]

NEO4J_VERSION = "5.26.30"  # keep in step with <neo4j.version> in kg/neo4j/java/pom.xml
DEFAULT_PASSWORD = "kgloom-password"  # Neo4j 5 wants at least 8 characters
SUPPORTED_JAVA = (17, 21)  # what Neo4j 5.26 runs on; 17 is preferred
MAIN_CLASS = "kgloom.Neo4jLauncher"

# The module opens and flags of Neo4j 5's own neo4j.conf (server.jvm.additional), plus java.lang.
JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
)

_PACKAGED_LAUNCHER = Path(__file__).resolve().parent / "java"
GRASS = Path(__file__).resolve().parent / "kgloom.grass"  # Neo4j Browser style for kgloom's labels  # package data, in checkouts and wheels
_STAMP = ".kgloom-stamp"
_READY = re.compile(r"^READY (bolt://\S+)", re.MULTILINE)
_BROWSER = re.compile(r"^BROWSER (http://\S+)", re.MULTILINE)


class Neo4jServerError(StoreConnectionError):
    """The local Neo4j server could not be built, started or reached."""


class Neo4jUnavailableError(Neo4jServerError):
    """Java 17 (or 21) or Maven is missing, so no local Neo4j server can be run."""


# ---------------------------------------------------------------- locations and tools


def neo4j_home() -> Path:
    """The cache folder: ``$KG_NEO4J_HOME`` or ``~/.cache/kgloom/neo4j``."""
    env = os.environ.get("KG_NEO4J_HOME")
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().resolve() / "kgloom" / "neo4j"


def build_dir() -> Path:
    """Where the launcher's ``classes/`` and ``lib/`` go."""
    return neo4j_home() / "build"


def launcher_source() -> Path:
    """The folder with the launcher's ``pom.xml``."""
    env = os.environ.get("KG_NEO4J_SRC")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(_PACKAGED_LAUNCHER)
    for c in candidates:
        if (c / "pom.xml").is_file():
            return c.resolve()
    raise Neo4jUnavailableError(
        "the Neo4j launcher sources (pom.xml) were not found in "
        + ", ".join(str(c) for c in candidates)
        + "; reinstall kgloom, or set KG_NEO4J_SRC to a folder holding the launcher's pom.xml"
    )


def _java_major(java_home: Path) -> int | None:
    """The major version of the JDK/JRE at ``java_home`` (from its ``release`` file or ``java -version``)."""
    release = java_home / "release"
    text = ""
    try:
        if release.is_file():
            text = release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    m = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', text)
    if not m:
        java = java_home / "bin" / "java"
        if not java.is_file():
            return None
        try:
            out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
        if not m:
            return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def _java_candidates() -> Iterator[Path]:
    explicit = os.environ.get("KG_NEO4J_JAVA_HOME")
    if explicit:
        yield Path(explicit).expanduser()
        return
    if os.environ.get("JAVA_HOME"):
        yield Path(os.environ["JAVA_HOME"]).expanduser()
    for want in SUPPORTED_JAVA:
        yield Path(f"/usr/lib/jvm/java-{want}-openjdk-amd64")
        for pattern in (f"/usr/lib/jvm/*-{want}*", f"/usr/lib/jvm/*{want}*",
                        f"/Library/Java/JavaVirtualMachines/*{want}*/Contents/Home",
                        f"/opt/*jdk*{want}*"):
            for hit in sorted(glob.glob(pattern)):
                yield Path(hit)
    on_path = shutil.which("java")
    if on_path:
        yield Path(on_path).resolve().parent.parent


def find_java_home() -> Path:
    """A Java 17 (preferred) or 21 home; never another version (Neo4j 5.26 runs on 17 and 21 only).

    Looks at ``$KG_NEO4J_JAVA_HOME`` (only there, when set), ``$JAVA_HOME``, ``/usr/lib/jvm`` and the
    ``java`` on ``PATH``; raises :class:`Neo4jUnavailableError` when none fits.
    """
    seen: set[Path] = set()
    found: dict[int, Path] = {}
    wrong: list[str] = []
    for cand in _java_candidates():
        try:
            cand = cand.resolve()
        except OSError:
            continue
        if cand in seen or not (cand / "bin" / "java").is_file():
            continue
        seen.add(cand)
        major = _java_major(cand)
        if major in SUPPORTED_JAVA:
            if major == SUPPORTED_JAVA[0]:
                return cand
            found.setdefault(major, cand)
        else:
            wrong.append(f"{cand} (Java {major})")
    for major in SUPPORTED_JAVA:
        if major in found:
            return found[major]
    others = f"; found only: {', '.join(wrong)}" if wrong else ""
    raise Neo4jUnavailableError(
        "no Java 17 or 21 found (Neo4j 5.26 needs one): install OpenJDK 17 (e.g. apt-get install "
        f"openjdk-17-jdk-headless) or set KG_NEO4J_JAVA_HOME{others}"
    )


def find_maven() -> str:
    """The ``mvn`` executable, or :class:`Neo4jUnavailableError`."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise Neo4jUnavailableError(
            "Maven (mvn) is not on PATH; it fetches Neo4j's jars once (apt-get install maven)"
        )
    return mvn


def _stamp(src: Path, java_home: Path) -> str:
    h = hashlib.sha256()
    files = [src / "pom.xml", *sorted((src / "src").rglob("*.java"))]
    for f in files:
        h.update(str(f.relative_to(src)).encode())
        h.update(f.read_bytes())
    h.update(f"java{_java_major(java_home)}".encode())
    return h.hexdigest()


def _is_built(out: Path, stamp: str | None) -> bool:
    marker = out / _STAMP
    if not marker.is_file():
        return False
    if not (out / "classes" / "kgloom" / "Neo4jLauncher.class").is_file():
        return False
    if not any((out / "lib").glob("neo4j-kernel-*.jar")):
        return False
    return stamp is None or marker.read_text(encoding="utf-8").strip() == stamp


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX), so parallel test workers build only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, builds are idempotent anyway
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def available() -> tuple[bool, str]:
    """Whether a local server can be run here: ``(True, what)`` or ``(False, why not)``.

    Needs a Java 17/21 and, until the first build is done, Maven and the launcher sources.
    """
    try:
        java_home = find_java_home()
        src = launcher_source()
        if _is_built(build_dir(), _stamp(src, java_home)):
            return True, f"built at {build_dir()}; Java {_java_major(java_home)} at {java_home}"
        mvn = find_maven()
    except Neo4jUnavailableError as e:
        return False, str(e)
    return True, f"Java {_java_major(java_home)} at {java_home}; Maven at {mvn} (build pending)"


def build(force: bool = False, timeout: float = 1800) -> Path:
    """Fetch Neo4j's jars and compile the launcher, once; returns the build folder.

    A no-op (a hash check) when the build matches the launcher sources and the Java version.
    """
    java_home = find_java_home()
    src = launcher_source()
    out = build_dir()
    stamp = _stamp(src, java_home)
    if not force and _is_built(out, stamp):
        return out
    home = neo4j_home()
    with _file_lock(home / "build.lock"):
        if not force and _is_built(out, stamp):  # another process built it meanwhile
            return out
        mvn = find_maven()
        shutil.rmtree(out, ignore_errors=True)  # no stale jars of an older version in lib/
        cmd = [
            mvn, "-B", "-q", "-Dstyle.color=never",
            "-f", str(src / "pom.xml"),
            f"-Dmaven.repo.local={home / 'm2'}",
            f"-Dkgloom.buildDir={out}",
            "compile", "dependency:copy-dependencies",
        ]
        env = dict(os.environ, JAVA_HOME=str(java_home))
        env["PATH"] = f"{java_home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise Neo4jServerError(f"the Neo4j launcher build timed out after {timeout:.0f}s: {' '.join(cmd)}") from e
        except OSError as e:
            raise Neo4jUnavailableError(f"could not run Maven ({mvn}): {e}") from e
        if proc.returncode != 0 or not (out / "classes" / "kgloom" / "Neo4jLauncher.class").is_file():
            log = _tail((proc.stdout or "") + (proc.stderr or ""), 40)
            raise Neo4jServerError(
                f"building the Neo4j launcher failed (exit {proc.returncode}): {' '.join(cmd)}\n{log}"
            )
        (out / _STAMP).write_text(stamp + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------- the server


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _bolt_handshake(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when ``host:port`` speaks Bolt (agrees on a protocol version)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            # magic, then 4 proposals as [0, range, minor, major]: 5.0-5.8, 4.4, none, none
            s.sendall(b"\x60\x60\xb0\x17" + bytes([0, 8, 8, 5, 0, 0, 4, 4]) + bytes(8))
            reply = b""
            while len(reply) < 4:
                chunk = s.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            return reply != b"\x00\x00\x00\x00"
    except OSError:
        return False


def _size_bytes(size: str) -> int | None:
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", size)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()]


def _initial_heap(heap: str, initial: str = "128m") -> str:
    """A small -Xms (Neo4j warns when none is set; -Xms = -Xmx would make the process bigger)."""
    hb, ib = _size_bytes(heap), _size_bytes(initial)
    return heap if hb is None or ib is None or hb < ib else initial


def _tail(text: str, n: int) -> str:
    lines = text.splitlines()[-n:]
    return "\n".join("    " + line for line in lines)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


class Neo4jServer:
    """One local Neo4j 5.26 Community server process, started by :meth:`start`, ended by :meth:`stop`.

    ``port=None`` picks a free Bolt port; ``http_port=None`` leaves HTTP (and Browser) off, ``0`` picks a
    free one. ``data_dir=None`` uses a temporary folder that :meth:`stop` deletes; a given ``data_dir``
    is kept (and reused by the next start). ``password=None`` turns authentication off.
    """

    user = "neo4j"

    def __init__(
        self,
        port: int | None = None,
        http_port: int | None = None,
        password: str | None = DEFAULT_PASSWORD,
        data_dir: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        heap: str | None = None,
        pagecache: str | None = None,
        extra_conf: dict[str, str] | None = None,
        jvm_options: list[str] | None = None,
    ) -> None:
        if password is not None and len(password) < 8:
            raise Neo4jServerError("a Neo4j 5 password needs at least 8 characters")
        self.host = host
        self.port = port
        self.http_port = http_port
        self.password = password
        self.data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
        self.heap = heap or os.environ.get("KG_NEO4J_HEAP") or "512m"
        self.pagecache = pagecache or os.environ.get("KG_NEO4J_PAGECACHE") or "256m"
        self.extra_conf = dict(extra_conf or {})
        self.jvm_options = list(jvm_options or []) + os.environ.get("KG_NEO4J_JVM_OPTS", "").split()
        self.java_home: Path | None = None
        self.home: Path | None = None
        self.log_path: Path | None = None
        self.start_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh: IO[bytes] | None = None
        self._tmp: Path | None = None
        self._lock = threading.Lock()

    # -- addresses
    @property
    def uri(self) -> str:
        """``bolt://HOST:PORT`` (``neo4j://`` works too)."""
        if self.port is None:
            raise Neo4jServerError("the server has not been started")
        return f"bolt://{self.host}:{self.port}"

    @property
    def browser_url(self) -> str | None:
        """Neo4j Browser's address, when the HTTP connector is on."""
        return f"http://{self.host}:{self.http_port}/browser/" if self.http_port else None

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(user, password)`` for the driver, or ``None`` with auth off."""
        return (self.user, self.password) if self.password is not None else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def rss_bytes(self) -> int | None:
        """The server process's resident memory (Linux), or ``None``."""
        if not self.running or self.pid is None:
            return None
        m = re.search(r"^VmRSS:\s+(\d+) kB", _read(Path(f"/proc/{self.pid}/status")), re.MULTILINE)
        return int(m.group(1)) * 1024 if m else None

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the launcher's output and of Neo4j's debug.log."""
        parts = []
        if self.log_path is not None:
            text = _read(self.log_path)
            errors = [line for line in text.splitlines() if line.startswith("ERROR ")]
            if errors:
                parts.append("  " + "\n  ".join(errors[:5]))
            parts.append(f"  launcher output ({self.log_path}), last lines:\n{_tail(text, n)}")
        if self.home is not None:
            debug = self.home / "logs" / "debug.log"
            errors = [line for line in _read(debug).splitlines() if " ERROR " in line or " WARN " in line]
            if errors:
                parts.append(f"  warnings/errors in {debug}:\n{_tail(chr(10).join(errors), 15)}")
        return "\n".join(parts)

    # -- life cycle
    def start(self, timeout: float = 120) -> Neo4jServer:
        """Build if needed, launch, and wait until Bolt answers; returns ``self``."""
        with self._lock:
            if self.running:
                return self
            t0 = time.monotonic()
            out = build()
            self.java_home = find_java_home()
            auto_port = self.port is None
            for attempt in range(3):
                try:
                    self._launch(out, timeout - (time.monotonic() - t0))
                    break
                except Neo4jServerError as e:
                    in_use = "already in use" in str(e).lower() or "bindexception" in str(e).lower()
                    if auto_port and in_use and attempt < 2:  # lost a race for the free port: try another
                        self.port = None
                        continue
                    self._cleanup(delete_tmp=True)
                    raise
            self.start_seconds = time.monotonic() - t0
            atexit.register(self.stop)
            return self

    def _launch(self, out: Path, timeout: float) -> None:
        assert self.java_home is not None
        if self.port is None:
            self.port = _free_port(self.host)
        if self.http_port == 0:
            self.http_port = _free_port(self.host)
        if self.data_dir is None:
            if self._tmp is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="kgloom-neo4j-"))
            self.home = self._tmp
        else:
            self.home = self.data_dir
            self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "kgloom-launcher.log"
        java = self.java_home / "bin" / "java"
        cmd = [
            str(java), f"-Xms{_initial_heap(self.heap)}", f"-Xmx{self.heap}", *JVM_FLAGS, *self.jvm_options,
            "-cp", f"{out / 'classes'}{os.pathsep}{out / 'lib' / '*'}",
            MAIN_CLASS,
            "--home", str(self.home), "--host", self.host, "--bolt-port", str(self.port),
            "--pagecache", self.pagecache, "--watch-stdin",
        ]
        if self.http_port:
            cmd += ["--http-port", str(self.http_port)]
        if self.password is None:
            cmd.append("--no-auth")
        if self._tmp is not None:
            cmd.append("--delete-home-on-exit")  # also when this process dies without calling stop()
        for key, value in self.extra_conf.items():
            cmd += ["--conf", f"{key}={value}"]
        env = dict(os.environ, JAVA_HOME=str(self.java_home))
        env.pop("NEO4J_PASSWORD", None)
        if self.password is not None:
            env["KG_NEO4J_PASSWORD"] = self.password  # not on the command line (ps would show it)
        log_fh = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        try:
            # stdin stays open: the launcher (--watch-stdin) exits when this process dies
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log_fh, stderr=subprocess.STDOUT,
                                    env=env, cwd=str(self.home), start_new_session=True)
        except OSError as e:
            log_fh.close()
            raise Neo4jUnavailableError(f"could not run {java}: {e}") from e
        self._proc, self._log_fh = proc, log_fh
        deadline = time.monotonic() + max(timeout, 1.0)
        ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self.log_tail()
                self._cleanup(delete_tmp=False)
                raise Neo4jServerError(
                    f"Neo4j exited during startup (exit {proc.returncode}) on {self.host}:{self.port}.\n{tail}"
                )
            text = _read(self.log_path)
            if not ready and _READY.search(text):
                ready = True
            if ready and _bolt_handshake(self.host, self.port):
                return
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise Neo4jServerError(
            f"Neo4j did not accept Bolt connections on {self.host}:{self.port} within {timeout:.0f}s.\n{tail}"
        )

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM the server (a clean shutdown), SIGKILL after ``timeout``; deletes a temporary data dir."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(30)
        self._cleanup(delete_tmp=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _cleanup(self, delete_tmp: bool) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        if self._log_fh is not None:
            with contextlib.suppress(OSError):
                self._log_fh.close()
            self._log_fh = None
        self._proc = None
        if delete_tmp and self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Neo4jServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.running else "stopped"
        return f"<Neo4jServer {self.uri if self.port else '(no port)'} {state}>"


def start(
    port: int | None = None,
    http_port: int | None = None,
    password: str | None = DEFAULT_PASSWORD,
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float = 120,
    heap: str | None = None,
    pagecache: str | None = None,
) -> Neo4jServer:
    """Start a local Neo4j server and return its handle (see :class:`Neo4jServer`)."""
    server = Neo4jServer(port=port, http_port=http_port, password=password, data_dir=data_dir,
                         heap=heap, pagecache=pagecache)
    return server.start(timeout=timeout)


def stop(server: Neo4jServer, timeout: float = 60) -> None:
    """Stop a server that :func:`start` returned."""
    server.stop(timeout=timeout)
