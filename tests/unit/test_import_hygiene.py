"""The domain core imports without Celery (checked in a fresh interpreter)."""

import pkgutil
import subprocess
import sys

import syndication


def test_core_modules_import_without_celery():
    modules = [m.name for m in pkgutil.walk_packages(syndication.__path__, "syndication.")
               if not m.name.endswith("__main__")]
    code = ("import sys\n" + "\n".join(f"import {m}" for m in modules) +
            "\nassert 'celery' not in sys.modules, 'celery imported'\nprint(len(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(modules) > 20


def test_issue_check_command():
    code = "import syndication.events, syndication.articles, sys; assert 'celery' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
