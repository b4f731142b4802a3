"""Run fer-edge's runtime on aarch64 (Raspberry Pi OS's CPU) under qemu-user emulation, from package registries only.

    python tools/aarch64.py all          # setup, predict, test, compare (about 15 minutes on 2 cores)
    python tools/aarch64.py setup        # host tools, arm64 Debian sysroot, aarch64 wheels, fer-edge's own wheel
    python tools/aarch64.py predict      # `fer-edge predict` on examples/images, emulated
    python tools/aarch64.py test         # the runtime-only tests (`pytest -m runtime`), emulated
    python tools/aarch64.py compare      # the same faces and scenes on x86 and aarch64 -> benchmarks/results/aarch64.*

`--suite bookworm` (Python 3.11, Raspberry Pi OS Bookworm; the default) or `--suite trixie` (3.13).
Everything is cached in `.aarch64/` (ignored by git); every step skips what is already there.
No binfmt registration is needed: `.aarch64/<suite>/bin/python` is a shell script that starts the arm64
Python under `qemu-aarch64-static -L SYSROOT`, and it is also the emulated `sys.executable`, so tests that
start subprocesses stay emulated. Debian bookworm's qemu 7.2 crashes inside LiteRT; 8 or newer is needed
(bookworm-backports has 10).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".aarch64"
MIRROR = "http://deb.debian.org/debian"
SUITES = {"bookworm": "3.11", "trixie": "3.13"}
DEB_PACKAGES = {"bookworm": "python3,libgl1,libglib2.0-0", "trixie": "python3,libgl1,libglib2.0-0t64"}  # t64: trixie's name
# pinned to this machine's versions, so the comparison isolates the CPU architecture
PINNED = ("numpy", "opencv-python-headless", "ai-edge-litert")
UNPINNED = ("click", "pytest", "hypothesis", "aiohttp")  # aiohttp: the [web] extra (fer-edge serve)
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
QEMU_MIN = 8


class StepError(RuntimeError):
    """A step that cannot run here; its message is the one line the user sees."""


def run(cmd: list[str], log: Path | None = None, **kw) -> subprocess.CompletedProcess:
    """Run a command; on failure raise StepError with the command and the tail of its output."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if log is not None:
        log.write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise StepError(f"`{' '.join(map(str, cmd[:4]))} ...` failed ({r.returncode}): {tail[0]}")
    return r


def say(msg: str) -> None:
    print(f"[aarch64] {msg}", flush=True)


# -- host tools ----------------------------------------------------------------------------------------------------
def qemu_version() -> tuple[int, ...] | None:
    exe = shutil.which("qemu-aarch64-static")
    if exe is None:
        return None
    m = re.search(r"version (\d+)\.(\d+)", subprocess.run([exe, "--version"], capture_output=True, text=True).stdout)
    return tuple(int(g) for g in m.groups()) if m else None


def ensure_host_tools() -> None:
    """qemu-user-static >= 8 and debootstrap: installed from Debian (bookworm-backports for qemu) when root."""
    have_qemu = (qemu_version() or (0,))[0] >= QEMU_MIN
    have_deb = shutil.which("debootstrap") is not None
    if have_qemu and have_deb:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StepError(f"need qemu-user-static >= {QEMU_MIN} (Debian bookworm-backports) and debootstrap; "
                        "install them as root (apt-get) and rerun")
    codename = _os_codename()
    say(f"installing host tools from Debian ({codename})")
    if not have_qemu and codename == "bookworm":
        Path("/etc/apt/sources.list.d/fer-edge-backports.list").write_text(
            f"deb {MIRROR} bookworm-backports main\n")
    run(["apt-get", "update", "-q"])
    target = ["-t", "bookworm-backports"] if codename == "bookworm" else []
    if not have_qemu:
        run(["apt-get", "install", "-y", "-q", *target, "qemu-user-static"])
    if not have_deb:
        run(["apt-get", "install", "-y", "-q", "debootstrap"])
    if (qemu_version() or (0,))[0] < QEMU_MIN:
        raise StepError(f"qemu-user-static {qemu_version()} installed; {QEMU_MIN} or newer is needed for LiteRT")


def _os_codename() -> str:
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    m = re.search(r"^VERSION_CODENAME=(\w+)", text, re.M)
    return m.group(1) if m else "unknown"


# -- the emulated Python -------------------------------------------------------------------------------------------
class Target:
    """One Debian suite's arm64 sysroot with its Python, site-packages and launcher script."""

    def __init__(self, suite: str):
        self.suite, self.py = suite, SUITES[suite]
        self.dir = CACHE / suite
        self.sysroot = self.dir / "sysroot"
        self.site = self.sysroot / "usr" / "lib" / "python3" / "dist-packages"
        self.wheels = self.dir / "wheels"
        self.python = self.dir / "bin" / "python"

    def build_sysroot(self) -> None:
        done = self.dir / "sysroot.done"
        if done.exists():
            return
        if self.sysroot.exists():
            shutil.rmtree(self.sysroot)
        self.dir.mkdir(parents=True, exist_ok=True)
        say(f"debootstrap --foreign arm64 {self.suite} (about a minute)")
        run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", f"--include={DEB_PACKAGES[self.suite]}",
             self.suite, str(self.sysroot), MIRROR], log=self.dir / "debootstrap.log")
        debs = sorted((self.sysroot / "var" / "cache" / "apt" / "archives").glob("*.deb"))
        say(f"unpacking {len(debs)} packages")
        for deb in debs:  # --foreign leaves most packages unpacked only in part; dpkg -x finishes the files
            run(["dpkg", "-x", str(deb), str(self.sysroot)])
        done.write_text(f"{len(debs)} packages\n")

    def write_launcher(self) -> None:
        self.python.parent.mkdir(parents=True, exist_ok=True)
        usr = self.sysroot / "usr"
        self.python.write_text(
            "#!/bin/sh\n# the arm64 Python under qemu; -0 makes this script its sys.executable (subprocesses stay emulated)\n"
            f'PYTHONHOME="{usr}" exec qemu-aarch64-static -L "{self.sysroot}" -0 "$0" "{usr}/bin/python{self.py}" "$@"\n')
        self.python.chmod(0o755)

    def install_wheels(self) -> None:
        pins = [f"{p}=={importlib.metadata.version(p)}" for p in PINNED]
        self.wheels.mkdir(parents=True, exist_ok=True)
        say(f"aarch64 wheels for Python {self.py}: {' '.join(pins)} {' '.join(UNPINNED)}")
        platforms = [flag for p in PLATFORMS for flag in ("--platform", p)]
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", *platforms,
               "--python-version", self.py, "--implementation", "cp", "-d", str(self.wheels), *pins, *UNPINNED]
        run(cmd, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        installed = self.dir / "wheels.installed"
        seen = set(installed.read_text().split()) if installed.exists() else set()
        for whl in sorted(self.wheels.glob("*.whl")):
            if whl.name not in seen:
                unzip(whl, self.site)
                seen.add(whl.name)
        installed.write_text("\n".join(sorted(seen)) + "\n")

    def install_fer_edge(self) -> None:
        """Build fer-edge's wheel from this checkout and put it in the sysroot in place of any older one."""
        dist = self.dir / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        say("building fer-edge's wheel")
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        for old in list(self.site.glob("fer_edge")) + list(self.site.glob("fer_edge-*.dist-info")):
            shutil.rmtree(old)
        (whl,) = dist.glob("fer_edge-*.whl")
        unzip(whl, self.site)

    def exec(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        """Run the emulated Python with `-P` (the checkout's fer_edge/ must not shadow the installed wheel)."""
        if not self.python.exists():
            raise StepError(f"no emulated Python for {self.suite}: run `python tools/aarch64.py setup` first")
        return subprocess.run([str(self.python), "-P", *args], **kw)


def unzip(whl: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = info.external_attr >> 16
            if mode & 0o111:
                (dest / info.filename).chmod(mode & 0o777)


# -- steps ---------------------------------------------------------------------------------------------------------
def setup(t: Target) -> None:
    ensure_host_tools()
    t.build_sysroot()
    t.write_launcher()
    t.install_wheels()
    t.install_fer_edge()
    r = t.exec(["-c", "import platform, sys, numpy, cv2, ai_edge_litert, fer_edge; "
                      "print(platform.machine(), sys.version.split()[0], numpy.__version__, cv2.__version__, "
                      "fer_edge.__version__)"], capture_output=True, text=True)
    if r.returncode != 0:
        raise StepError(f"the emulated Python cannot import the runtime: {r.stderr.strip().splitlines()[-1]}")
    say(f"ready: {r.stdout.strip()}")


def predict(t: Target) -> None:
    images = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples" / "images").glob("*.jpg"))
    say(f"fer-edge predict {' '.join(Path(i).name for i in images)} (emulated)")
    r = t.exec(["-m", "fer_edge.cli", "predict", *images], capture_output=True, text=True, cwd=ROOT)
    print(r.stdout, end="")
    if r.returncode != 0:
        raise StepError(f"fer-edge predict failed under emulation: {r.stderr.strip().splitlines()[-1:]}")


def test(t: Target, extra: list[str], slow: bool) -> int:
    """The runtime tests under emulation; the `slow` ones (long clips, fuzzing, load) only with --slow."""
    marks = "runtime" if slow else "runtime and not slow"
    say(f"pytest -m '{marks}' (emulated; tests that need TensorFlow and friends are deselected)")
    env = {**os.environ, "FER_EDGE_RUNTIME_ONLY": "1"}
    return t.exec(["-m", "pytest", "-q", "-m", marks, "-p", "no:cacheprovider", "-rs", *extra], cwd=ROOT,
                  env=env).returncode


def compare(t: Target, faces_per_class: int) -> None:
    out = CACHE / t.suite / "compare"
    out.mkdir(parents=True, exist_ok=True)
    script = ROOT / "benchmarks" / "arch_compare.py"
    say("answers on this machine (x86-64)")
    run([sys.executable, "-P", str(script), "dump", str(out / "x86_64.npz"), "--per-class", str(faces_per_class)],
        cwd=ROOT)
    say("answers under emulation (aarch64; several minutes)")
    r = t.exec([str(script), "dump", str(out / "aarch64.npz"), "--per-class", str(faces_per_class)], cwd=ROOT,
               capture_output=True, text=True)
    if r.returncode != 0:
        raise StepError(f"the emulated dump failed: {r.stderr.strip().splitlines()[-1:]}")
    run([sys.executable, str(script), "report", str(out / "x86_64.npz"), str(out / "aarch64.npz"),
         "--out", str(ROOT / "benchmarks" / "results" / f"aarch64-{t.suite}")], cwd=ROOT)
    say(f"report: benchmarks/results/aarch64-{t.suite}.md")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["setup", "predict", "test", "compare", "all"])
    ap.add_argument("--suite", choices=sorted(SUITES), default="bookworm",
                    help="Debian suite of the sysroot: bookworm = Python 3.11, trixie = 3.13")
    ap.add_argument("--per-class", type=int, default=110,
                    help="FER2013 test faces per class to compare (disgust has 55: 715 faces in all)")
    ap.add_argument("--slow", action="store_true", help="`test`: the slow runtime tests too (hours emulated)")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments for `test` (after --)")
    a = ap.parse_args(argv)
    t = Target(a.suite)
    try:
        if a.step in ("setup", "all"):
            setup(t)
        else:  # this checkout's code, not whatever wheel an earlier setup installed
            t.install_fer_edge()
        if a.step in ("predict", "all"):
            predict(t)
        rc = test(t, a.pytest_args, a.slow) if a.step in ("test", "all") else 0
        if a.step in ("compare", "all"):
            compare(t, a.per_class)
        return rc
    except StepError as e:
        print(f"aarch64: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
