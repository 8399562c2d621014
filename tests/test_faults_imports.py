"""Start-up cost: importing gpen's metrics or the training code does not import pyiqa (its package
import pulls in its model zoo and hub clients); it is imported when NIQE or FID is computed."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpen_imports_do_not_load_pyiqa():
    code = ("import sys, gpen.metrics, gpen.lit.build, gpen.lit.pretrained; "
            "print(sorted(m for m in ('pyiqa', 'httpx', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
