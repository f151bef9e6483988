"""Container images: a Docker engine of our own, a Debian base image and the two images.

``python -m chronos.devcluster.images build`` starts ``dockerd`` if none answers (its
state under ``CHRONOS_CACHE_DIR/docker``, default ``~/.cache/chronos/docker``), makes the
base image ``chronos-base:bookworm`` once with debootstrap (no container registry is
reachable here, so ``python:3.11-slim-bookworm`` cannot be pulled), builds
``Dockerfile.runner`` and ``Dockerfile.operator`` on it, prints their sizes and stops the
engine again if it started it. ``lock`` regenerates ``requirements/*.txt``.

pip inside the build reaches the package index with this machine's settings: the CA
bundle pip trusts and any index URL, proxy or trusted host from ``pip config list`` are
handed to the build as BuildKit secrets, so no layer and no file of the repository
keeps them. docs/images.md has the details.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chronos.devcluster.binaries import HERE, cache_root, repo_root

SUITE = "bookworm"
BASE_TAG = f"chronos-base:{SUITE}"
#: What the base holds beyond debootstrap's minbase: the official slim Python image's
#: essentials. python3-venv brings ensurepip, so each venv gets its own pip.
BASE_PACKAGES = ("python3", "python3-venv", "tzdata", "ca-certificates")
#: Removed from the rootfs, as the official slim images do (apt lists, caches, docs).
BASE_TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
)
BASE_RECIPE_LABEL = "io.chronos.base-recipe"
COMPONENTS = ("runner", "operator")
UID = 65532

Log = Callable[[str], None]


class ImageError(RuntimeError):
    pass


def _print(line: str) -> None:
    print(f"[images] {line}", flush=True)


def project_version() -> str:
    for line in (repo_root() / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split("=", 1)[1].strip().strip('"')
    raise ImageError("pyproject.toml has no version")


def image_tag(component: str) -> str:
    """The tag the chart and the operator's default CHRONOS_RUNNER_IMAGE use."""
    return f"chronos-{component}:{project_version()}"


def engine_dir() -> Path:
    return cache_root() / "docker"


#: The OCI runtime wrapper kind's nodes need on this machine (``runtime_args``).
RUNTIME = "chronos-runc"
RUNTIME_WRAPPER = HERE / "kindnode" / "runc-drop-sys-resource"
#: Bit of CAP_SYS_RESOURCE in a capability set (linux/capability.h).
CAP_SYS_RESOURCE = 24


def lacks_sys_resource(proc_status: str) -> bool:
    """Whether the capability bounding set in ``/proc/<pid>/status`` text lacks
    CAP_SYS_RESOURCE (then ``docker run --privileged``, which kind always uses, fails)."""
    for line in proc_status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapBnd":
            return not (int(value.strip(), 16) >> CAP_SYS_RESOURCE) & 1
    raise ImageError("no CapBnd line in the process status")


def runtime_args(proc_status: str) -> tuple[str, ...]:
    """dockerd arguments for kind's privileged nodes: on a machine without
    CAP_SYS_RESOURCE, the default runtime is runc minus that capability; elsewhere none."""
    if not lacks_sys_resource(proc_status):
        return ()
    return (f"--add-runtime={RUNTIME}={RUNTIME_WRAPPER}", f"--default-runtime={RUNTIME}")


# ------------------------------------------------------------------------- tools


def _apt_install(packages: list[str], log: Log) -> None:
    if os.geteuid() != 0:
        raise ImageError(f"missing {', '.join(packages)}; install them (apt-get install)")
    log(f"apt-get install {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ImageError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr}")


def _buildx_available(cli: str) -> bool:
    result = subprocess.run([cli, "buildx", "version"], capture_output=True, check=False)
    return result.returncode == 0


def docker_cli() -> str:
    """A docker client that can build with BuildKit (secret and cache mounts).

    ``CHRONOS_DOCKER_CLI`` if set; else ``docker`` when it has the buildx plugin; else
    the client of Debian's docker.io (20.10, BuildKit built in).
    """
    override = os.environ.get("CHRONOS_DOCKER_CLI")
    if override:
        return override
    found = shutil.which("docker")
    if found and _buildx_available(found):
        return found
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    raise ImageError("no docker client with BuildKit: install docker.io (or docker buildx)")


def ensure_tools(log: Log = _print, *, debootstrap: bool = True) -> None:
    """Install Debian's docker.io (engine and client) and debootstrap when missing."""
    docker = shutil.which("docker")
    has_engine = bool(shutil.which("dockerd")) or Path("/usr/sbin/dockerd").exists()
    has_client = Path("/usr/bin/docker").exists() or bool(docker and _buildx_available(docker))
    missing = [] if has_engine and has_client else ["docker.io"]
    if debootstrap and not (shutil.which("debootstrap") or Path("/usr/sbin/debootstrap").exists()):
        missing.append("debootstrap")
    if missing:
        _apt_install(missing, log)


# ------------------------------------------------------------------------ engine


@dataclass
class Engine:
    """A Docker engine reached at ``host`` with the client ``cli``."""

    host: str
    cli: str
    process: subprocess.Popen[bytes] | None = None
    log: Log = _print
    directory: Path | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1", **extra}

    def docker(
        self, *args: str, check: bool = True, timeout: float | None = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.cli, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise ImageError(
                f"docker {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def answers(self) -> bool:
        try:
            return self.docker("version", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """Stop dockerd if this Engine started it (and the containerd it runs)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        self.log("stopping dockerd")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.process = None
        if self.directory is not None:
            _unmount_below(self.directory / "exec")


def _unmount_below(directory: Path) -> None:
    """Unmount what dockerd left mounted under its exec root (its ``netns/default``)."""
    prefix = f"{directory}/"
    points = [
        fields[1]
        for fields in (line.split() for line in Path("/proc/self/mounts").read_text().splitlines())
        if len(fields) > 1 and fields[1].startswith(prefix)
    ]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_engine(log: Log = _print, directory: Path | None = None) -> Engine:
    """Reuse a running engine ($DOCKER_HOST, or ours from an earlier call), else start one.

    The engine started here keeps its images and build cache in ``directory`` (so later
    runs are fast), listens on a socket there, and creates no bridge and no iptables
    rules, and leaves net.ipv4.ip_forward alone: builds and containers use the host's network
    (``--network host``). It also runs the kind cluster's node (``runtime_args``).
    """
    cli = docker_cli()
    given = os.environ.get("DOCKER_HOST")
    if given:
        engine = Engine(given, cli, log=log)
        if engine.answers():
            log(f"using the Docker engine at {given}")
            return engine
    directory = directory or engine_dir()
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "docker.sock"
    engine = Engine(f"unix://{socket}", cli, log=log, directory=directory)
    if socket.exists() and engine.answers():
        log(f"using the running Docker engine at {engine.host}")
        return engine
    pidfile = directory / "dockerd.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _pid_alive(pid):
            raise ImageError(f"dockerd (pid {pid}, {pidfile}) runs but does not answer")
        pidfile.unlink()
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    log(f"starting dockerd (state in {directory})")
    with (directory / "dockerd.log").open("ab") as out:
        engine.process = subprocess.Popen(
            [
                dockerd,
                f"--data-root={directory / 'data'}",
                f"--exec-root={directory / 'exec'}",
                f"--pidfile={pidfile}",
                f"--host={engine.host}",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                # Left alone, dockerd sets net.ipv4.ip_forward=1 and never restores it;
                # nothing here needs forwarding (kind's network has its own guard: kindnet).
                "--ip-forward=false",
                "--log-level=warn",
                *runtime_args(Path("/proc/self/status").read_text()),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            tail = (directory / "dockerd.log").read_text(errors="replace")[-3000:]
            raise ImageError(f"dockerd exited {engine.process.returncode}:\n{tail}")
        if engine.answers():
            return engine
        time.sleep(0.5)
    engine.stop()
    raise ImageError(f"dockerd did not answer within 60 s; see {directory / 'dockerd.log'}")


@contextmanager
def engine_session(log: Log = _print) -> Iterator[Engine]:
    """An engine for the duration of the block; stopped afterwards if started here."""
    ensure_tools(log)
    engine = start_engine(log)
    try:
        yield engine
    finally:
        engine.stop()


# -------------------------------------------------------------------- base image


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (``CHRONOS_DEBIAN_MIRROR`` overrides)."""
    override = os.environ.get("CHRONOS_DEBIAN_MIRROR")
    if override:
        return override
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file() or path.suffix not in {".list", ".sources"}:
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".list":
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri_at = 2 if parts[1].startswith("[") else 1
                    if parts[uri_at + 1 : uri_at + 2] == [SUITE]:
                        return parts[uri_at]
            continue
        for stanza in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.strip()
            if (
                "deb" in fields.get("types", "").split()
                and SUITE in fields.get("suites", "").split()
            ):
                return fields["uris"].split()[0]
    raise ImageError("no Debian mirror for bookworm in apt's sources; set CHRONOS_DEBIAN_MIRROR")


def base_recipe() -> str:
    """A digest of how the base is made: a change makes a new rootfs."""
    recipe = {"suite": SUITE, "variant": "minbase", "packages": BASE_PACKAGES, "trim": BASE_TRIM}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _make_rootfs_tarball(tarball: Path, log: Log) -> None:
    rootfs = tarball.with_suffix(".rootfs")
    if rootfs.exists():
        shutil.rmtree(rootfs)
    mirror = debian_mirror()
    log(f"debootstrap {SUITE} (minbase + {', '.join(BASE_PACKAGES)}) into {rootfs}")
    started = time.monotonic()
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    cmd = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        SUITE,
        str(rootfs),
        mirror,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ImageError(f"debootstrap failed ({result.returncode}):\n{result.stdout[-3000:]}")
    log(f"debootstrap took {time.monotonic() - started:.0f} s")
    for relative in BASE_TRIM:
        target = rootfs / relative
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    # Nothing of this machine in the image: docker provides these at run time.
    for name in ("etc/resolv.conf", "etc/hostname", "etc/machine-id"):
        target = rootfs / name
        if target.exists() or target.is_symlink():
            target.unlink()
            target.write_text("")
    partial = tarball.with_suffix(".part")
    subprocess.run(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True
    )
    partial.rename(tarball)
    shutil.rmtree(rootfs)


def ensure_rootfs_tarball(log: Log = _print) -> Path:
    """The debootstrap rootfs of the base image (also kind's node base), made once and cached."""
    images = cache_root() / "images"
    images.mkdir(parents=True, exist_ok=True)
    tarball = images / f"rootfs-{SUITE}-{base_recipe()}.tar"
    if not tarball.exists():
        ensure_tools(log, debootstrap=True)
        _make_rootfs_tarball(tarball, log)
    return tarball


def ensure_base(engine: Engine, log: Log = _print) -> str:
    """``chronos-base:bookworm``, made with debootstrap once and cached (tarball + image)."""
    recipe = base_recipe()
    inspect = engine.docker(
        "image",
        "inspect",
        "--format",
        f'{{{{ index .Config.Labels "{BASE_RECIPE_LABEL}" }}}}',
        BASE_TAG,
        check=False,
    )
    if inspect.returncode == 0 and inspect.stdout.strip() == recipe:
        log(f"{BASE_TAG} is cached (recipe {recipe})")
        return BASE_TAG
    tarball = ensure_rootfs_tarball(log)
    log(f"docker import {tarball.name} as {BASE_TAG}")
    engine.docker(
        "import",
        "--change",
        f"LABEL {BASE_RECIPE_LABEL}={recipe}",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        'CMD ["python3"]',
        str(tarball),
        BASE_TAG,
        timeout=600,
    )
    return BASE_TAG


# ------------------------------------------------------------------------ builds


def _pip_config() -> dict[str, str]:
    """pip's own settings on this machine (files and PIP_* variables), last one wins."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    )
    settings: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, raw = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        settings[name] = str(value)
    return settings


def ca_bundle() -> Path:
    """The CA bundle pip trusts on this machine (which may hold a local proxy's CA)."""
    candidates = [
        os.environ.get("PIP_CERT"),
        _pip_config().get("cert"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        os.environ.get("SSL_CERT_FILE"),
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ImageError("no CA bundle found for pip (set PIP_CERT)")


def pip_secrets(directory: Path) -> list[str]:
    """``--secret`` arguments: the CA bundle and a pip.conf for pip inside the build."""
    config = _pip_config()
    lines = ["[global]", "cert = /run/secrets/pip_ca"]
    for key in ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout", "retries"):
        if config.get(key):
            lines.append(f"{key} = {config[key]}")
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy and not config.get("proxy"):
        lines.append(f"proxy = {proxy}")
    conf = directory / "pip.conf"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    return ["--secret", f"id=pip_ca,src={ca_bundle()}", "--secret", f"id=pip_conf,src={conf}"]


@dataclass
class Built:
    tag: str
    seconds: float
    size: int


@dataclass
class BuildReport:
    base: str
    base_seconds: float
    images: dict[str, Built] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"{self.base}: ready in {self.base_seconds:.1f} s"]
        for built in self.images.values():
            out.append(
                f"{built.tag}: {built.size / 1e6:.1f} MB ({built.size / 2**20:.1f} MiB), "
                f"built in {built.seconds:.1f} s"
            )
        return out


def image_size(engine: Engine, tag: str) -> int:
    return int(engine.docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def build_image(
    engine: Engine, component: str, base: str, log: Log = _print, *, stream: bool = False
) -> Built:
    """``docker build`` of ``Dockerfile.<component>`` on ``base``; output to a log file."""
    tag = image_tag(component)
    root = repo_root()
    logs = cache_root() / "images" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"build-{component}.log"
    log(f"building {tag} from Dockerfile.{component} (log: {log_path})")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chronos-pip-") as tmp:
        cmd = [
            engine.cli,
            "build",
            "--network",
            "host",
            "--progress",
            "plain",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--build-arg",
            f"VERSION={project_version()}",
            *pip_secrets(Path(tmp)),
            "--file",
            str(root / f"Dockerfile.{component}"),
            "--tag",
            tag,
            str(root),
        ]
        with log_path.open("w") as out:
            proc = subprocess.Popen(
                cmd, env=engine.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if stream:
                    print(line, end="", flush=True)
            code = proc.wait()
    if code != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise ImageError(f"docker build of {tag} exited {code}; end of {log_path}:\n{tail}")
    seconds = time.monotonic() - started
    built = Built(tag, seconds, image_size(engine, tag))
    log(f"{tag}: {built.size / 1e6:.1f} MB, built in {seconds:.1f} s")
    return built


def build_all(
    engine: Engine,
    log: Log = _print,
    *,
    base: str | None = None,
    stream: bool = False,
    components: tuple[str, ...] = COMPONENTS,
) -> BuildReport:
    """The base (unless ``base`` names another image) and every component image."""
    started = time.monotonic()
    base_tag = base or ensure_base(engine, log)
    report = BuildReport(base_tag, time.monotonic() - started)
    for component in components:
        report.images[component] = build_image(engine, component, base_tag, log, stream=stream)
    return report


# -------------------------------------------------------------------------- lock


def lock(log: Log = _print) -> None:
    """Regenerate requirements/{runner,operator,build}.txt (pinned, with hashes)."""
    tools = cache_root() / "pip-tools"
    compile_ = tools / "bin" / "pip-compile"
    if not compile_.exists():
        log(f"installing pip-tools into {tools}")
        subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
        subprocess.run([str(tools / "bin" / "pip"), "install", "-q", "pip-tools"], check=True)
    root = repo_root()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"},
        "CUSTOM_COMPILE_COMMAND": "python -m chronos.devcluster.images lock",
    }
    common = [
        str(compile_),
        "--quiet",
        "--generate-hashes",
        "--strip-extras",
        "--no-emit-find-links",
        "--no-emit-index-url",
        "--upgrade",
    ]
    jobs = {
        # Each image's own distribution (tests/unit/suite/test_packaging.py keeps its dependencies
        # those of the repository's pyproject.toml and its extras).
        "runner.txt": ["packaging/runner/pyproject.toml"],
        "operator.txt": ["packaging/operator/pyproject.toml"],
        "build.txt": ["requirements/build.in"],
    }
    for output, args in jobs.items():
        log(f"pip-compile requirements/{output}")
        subprocess.run(
            [*common, "--output-file", f"requirements/{output}", *args],
            cwd=root,
            env=env,
            check=True,
        )


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chronos.devcluster.images")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the base (once) and both images")
    build.add_argument("--base", help="build on this image instead of the debootstrap base")
    build.add_argument("--verbose", action="store_true", help="stream docker build's output")
    build.add_argument(
        "--keep-engine", action="store_true", help="leave a dockerd started here running"
    )
    sub.add_parser("lock", help="regenerate requirements/*.txt")
    sub.add_parser("stop", help="stop the dockerd under the cache folder, if it runs")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            lock()
            return 0
        if args.command == "stop":
            return _stop_cached_engine()
        ensure_tools()
        engine = start_engine()
        try:
            report = build_all(engine, base=args.base, stream=args.verbose)
        finally:
            if not args.keep_engine:
                engine.stop()
    except ImageError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


def _stop_cached_engine() -> int:
    print(stop_engine_in(engine_dir()))
    return 0


def stop_engine_in(directory: Path) -> str:
    """Stop the dockerd whose pidfile is in ``directory``, if it runs; says what it did."""
    pidfile = directory / "dockerd.pid"
    if not pidfile.exists():
        return f"no dockerd under {directory}"
    pid = int(pidfile.read_text().strip())
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.2)
    _unmount_below(directory / "exec")
    return f"stopped dockerd {pid}"


if __name__ == "__main__":
    sys.exit(main())
