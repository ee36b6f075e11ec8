"""Runs the widgets' static checks (node's test runner) as part of the suite."""

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = sorted(str(path) for path in Path(__file__).parent.glob("*.test.mjs"))


def test_the_node_checks_of_both_widgets_pass():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the widget checks need Node.js 18 or later (`apt-get install -y nodejs`)")
    assert len(TESTS) == 2, TESTS
    result = subprocess.run([node, "--test", *TESTS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
