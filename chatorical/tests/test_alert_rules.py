"""The alert rules parse and pass their unit tests, with Debian's promtool (package prometheus)."""

import shutil
import subprocess

import yaml

from chatorical.testing import ROOT

RULES_DIR = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: apt-get install -y prometheus (.ci/run does it)"
    return subprocess.run([executable, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120)


def test_alert_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test():
    rules = yaml.safe_load((RULES_DIR / "alerts.yml").read_text())
    tests = yaml.safe_load((RULES_DIR / "alerts_test.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested_firing = {
        case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"] if case.get("exp_alerts")
    }
    assert alerts == tested_firing
