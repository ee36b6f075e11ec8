"""deploy/systemd: systemd's own verifier accepts the units, and each keeps its promises."""

import configparser
import shutil
import subprocess

import pytest

from chatorical.testing import ROOT

UNITS_DIR = ROOT / "deploy" / "systemd"
SERVICES = [
    "chatorical-web@.service",
    "chatorical-worker.service",
    "chatorical-beat.service",
    "chatorical-backup.service",
]
# The units name the release directory of deploy/README.md; the verifier needs executables
# that exist, so it checks copies pointing at this checkout (its .venv) instead.
RELEASE_DIR = "/srv/chatorical/current"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS_DIR / name)
    return parser


def test_systemd_analyze_verify_passes_without_a_warning(tmp_path):
    verifier = shutil.which("systemd-analyze")
    if verifier is None:
        pytest.fail("systemd-analyze is missing: `apt-get install -y systemd` (.ci/run does it)")
    names = []
    for path in UNITS_DIR.iterdir():
        if path.suffix in (".service", ".timer", ".target"):
            (tmp_path / path.name).write_text(path.read_text().replace(RELEASE_DIR, str(ROOT)))
            names.append(path.name)
    # A template is verified through one of its instances.
    (tmp_path / "chatorical-web@8001.service").write_text((tmp_path / "chatorical-web@.service").read_text())
    names = [name for name in names if name != "chatorical-web@.service"] + ["chatorical-web@8001.service"]
    result = subprocess.run(
        [verifier, "verify", *(f"./{name}" for name in sorted(names))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Bad values are only warnings to systemd: any output at all is a defect here.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_runs_hardened_as_the_dedicated_user(name):
    service = unit(name)["Service"]
    assert service["User"] == "chatorical"
    assert service["EnvironmentFile"] == "/etc/chatorical/chatorical.env"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["CapabilityBoundingSet"] == ""


@pytest.mark.parametrize("name", ["chatorical-web@.service", "chatorical-worker.service", "chatorical-beat.service"])
def test_long_running_services_restart_always_and_stop_on_sigterm(name):
    service = unit(name)["Service"]
    assert service["Restart"] == "always"
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"].rstrip("s")) >= 30


def test_web_is_one_graceful_instance_per_port():
    exec_start = unit("chatorical-web@.service")["Service"]["ExecStart"].split()
    assert exec_start[1:3] == ["-m", "chatorical.server"]
    assert exec_start[exec_start.index("-p") + 1] == "%i"
    assert exec_start[exec_start.index("-b") + 1] == "127.0.0.1"


def test_worker_gets_time_to_finish_its_task_and_beat_is_not_a_template():
    assert int(unit("chatorical-worker.service")["Service"]["TimeoutStopSec"]) >= 60
    assert "worker" in unit("chatorical-worker.service")["Service"]["ExecStart"].split()
    assert "beat" in unit("chatorical-beat.service")["Service"]["ExecStart"].split()
    assert not list(UNITS_DIR.glob("chatorical-beat@*"))


def test_the_backup_runs_daily_and_verifies():
    assert unit("chatorical-backup.timer")["Timer"]["OnCalendar"].startswith("*-*-* ")
    exec_start = unit("chatorical-backup.service")["Service"]["ExecStart"].split()
    assert exec_start[2:5] == ["backup", "create", "--verify"]
