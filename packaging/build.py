"""Build the one-folder bundle and, optionally, smoke-test it.

    python packaging/build.py                 # -> dist/xaidesk/
    python packaging/build.py --smoke-test    # build in a temporary folder, run the
                                              # bundle's self-test and main window, delete it

Prints the build time, the bundle size, the self-test time and the time to the main window.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "xaidesk.spec"


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build(dist: Path, work: Path) -> tuple[Path, float]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(SPEC)],
        check=True, cwd=ROOT,
    )
    executable = dist / "xaidesk" / ("xaidesk.exe" if os.name == "nt" else "xaidesk")
    if not executable.exists():
        raise SystemExit(f"build finished but {executable} is missing")
    return executable, time.perf_counter() - start


def smoke_test(executable: Path) -> dict:
    """Run the frozen self-test (with the main window) offscreen, offline-style, in a scratch home."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as home:
        env["XAIDESK_HOME"] = home
        start = time.perf_counter()
        result = subprocess.run([str(executable), "--self-test", "--window"], env=env, capture_output=True, text=True, timeout=900)
        seconds = time.perf_counter() - start
        print(result.stdout)
        if result.returncode != 0:
            print(result.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"frozen self-test failed with exit code {result.returncode}")
        start = time.perf_counter()
        shown = subprocess.run([str(executable), "--time-to-window"], env=env, capture_output=True, text=True, timeout=300)
        window_seconds = time.perf_counter() - start
        if shown.returncode != 0:
            print(shown.stderr[-4000:], file=sys.stderr)
            raise SystemExit("the frozen app did not open its main window")
        lines = [l for l in shown.stdout.splitlines() if l.startswith("window shown after")]
    return {"self_test_s": seconds, "window_process_s": window_seconds, "window_line": lines[-1] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke-test", action="store_true", help="build in a temporary folder, test it, delete it")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    if args.smoke_test:
        scratch = Path(tempfile.mkdtemp(prefix="xaidesk-build-"))
        try:
            executable, build_s = build(scratch / "dist", scratch / "work")
            size = folder_size(executable.parent)
            figures = smoke_test(executable)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        executable, build_s = build(args.dist, ROOT / "build")
        size = folder_size(executable.parent)
        figures = {}
    print(f"build time: {build_s:.0f} s")
    print(f"bundle size: {size / 1e9:.2f} GB ({executable.parent if not args.smoke_test else 'deleted after the test'})")
    for key, value in figures.items():
        print(f"{key}: {value:.1f} s" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
