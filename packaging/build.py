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
        window_seconds = time_to_window(executable, env)
    return {"self_test_s": seconds, "time_to_window_s": window_seconds}


def time_to_window(executable: Path, env: dict, runs: int = 3) -> float:
    """Median seconds from launching the frozen app until it reports its window shown."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen([str(executable), "--time-to-window"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        seen = None
        for line in process.stdout:
            if line.startswith("window shown: True"):
                seen = time.perf_counter() - start
        if process.wait(timeout=300) != 0 or seen is None:
            raise SystemExit("the frozen app did not open its main window")
        times.append(seen)
    return sorted(times)[len(times) // 2]


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
