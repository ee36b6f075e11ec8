"""Test helpers for the deployment files: Debian's nginx running deploy/nginx/chatorical.conf."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from chatorical.testing import ROOT, free_port

NGINX_CONF = ROOT / "deploy" / "nginx" / "chatorical.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")


class NginxProcess:
    """nginx in the foreground, unprivileged paths under `workdir`, in front of `upstream_ports`.

    The repo's chatorical.conf is included as it is; only the two per-host files it expects
    beside nginx.conf (chatorical/upstreams.conf and chatorical/site.conf) are written here.
    """

    def __init__(self, workdir: Path, *, upstream_ports: list[int], static_parent: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.access_log = workdir / "access.log"
        self.error_log = workdir / "error.log"
        site_dir = workdir / "chatorical"
        site_dir.mkdir(parents=True, exist_ok=True)
        (site_dir / "upstreams.conf").write_text(
            "".join(f"server 127.0.0.1:{port} max_fails=0;\n" for port in upstream_ports)
        )
        (site_dir / "site.conf").write_text(
            f"listen 127.0.0.1:{self.port};\n"
            "server_name _;\n"
            f"root {static_parent};\n"
            f"access_log {self.access_log} chatorical;\n"
        )
        temp_paths = "".join(
            f"{kind}_temp_path {workdir / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's workers would drop to `nobody`, who cannot read a test's files.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(
            f"{user}worker_processes 1;\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"include {MIME_TYPES};\n"
            f"{temp_paths}"
            f"include {NGINX_CONF};\n"
            "}\n"
        )
        self.process = None

    def command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", f"{self.workdir}/", "-c", str(self.conf), *extra]

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command("-t", "-g", f"pid {self.workdir / 'nginx-t.pid'};"), capture_output=True, text=True
        )

    def start(self):
        self.process = subprocess.Popen(
            self.command("-g", f"daemon off; pid {self.workdir / 'nginx.pid'};"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer: {self.error_log.read_text()[-2000:]}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def upstreams_used(self) -> set[str]:
        """The instances nginx sent requests to, from its access log."""
        return {
            word
            for line in self.access_log.read_text().splitlines()
            for word in line.split()
            if word.startswith("127.0.0.1:")
        }
