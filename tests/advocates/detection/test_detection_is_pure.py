"""The detector must run where Django is not configured: a bench, a script, a bare worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import sys
from advocates.detection import Detector, DetectionInput
from advocates.routing_rules import route_decide
det = Detector()
d = det.detect(DetectionInput(text="great latte"))
route_decide(DetectionInput(text="great latte"), d, det.config)
assert "django" not in sys.modules, "detection imported Django"
print(d.label)
"""


def test_detection_imports_and_runs_without_django() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(  # noqa: S603 - fixed interpreter and script
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "positive"
