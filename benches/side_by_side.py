#!/usr/bin/env python3
"""lifeboat against its peers on the same simulated iPhone, side by side.

Starts fake-iphone with a link model over a library made by `fake-iphone make-library`,
then times, one after another on the same phone and the same files:

  lifeboat export-photos DEST
  pymobiledevice3 afc pull /DCIM DEST         (if pymobiledevice3 is found)
  ifuse MOUNT && cp -r MOUNT/DCIM DEST         (if ifuse and /dev/fuse are usable)

and prints MB/s, files/s, the share of the link limit, lifeboat's speed relative to each
peer, and each tool's peak RSS and CPU time (user + system, from wait4, so children that
exit are measured exactly; for ifuse, the FUSE daemon's and cp's together).

Scenarios (issue 7):
  a  USB 2: 0.5 ms per request, 35 MB/s; 2,000 photos of 3 MB and 20 videos of 100 MB
  b  small files: 1 ms per request, 35 MB/s; 5,000 photos of 200 KB
  c  loopback, no link limit: lifeboat's own ceiling (hashing, writing, syscalls)
  d  a no-op nightly run over 50,000 assets, 0.5 ms per request (lifeboat only)

Run by hand, not in CI (scenario a moves 8 GB per tool at 35 MB/s, about 4 minutes each):

  cargo build --release -p lifeboat -p fake-iphone
  python3 benches/side_by_side.py                    # every scenario, full size
  python3 benches/side_by_side.py b c --scale 0.25   # some scenarios, a quarter of the files

Peers are looked up on PATH and in .ci/venv (which `.ci/run` creates).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
MB = 1_000_000

SCENARIOS = {
    "a": dict(
        title="USB 2 (0.5 ms, 35 MB/s), 2,000 photos of 3 MB + 20 videos of 100 MB",
        latency_ms=0.5, bandwidth=35, photos=2000, photo_bytes=3 * MB, videos=20, video_bytes=100 * MB,
    ),
    "b": dict(
        title="small files (1 ms, 35 MB/s), 5,000 photos of 200 KB",
        latency_ms=1.0, bandwidth=35, photos=5000, photo_bytes=200_000, videos=0, video_bytes=0,
    ),
    "c": dict(
        title="loopback (no link limit), 1,000 photos of 3 MB + 10 videos of 100 MB",
        latency_ms=0.0, bandwidth=0, photos=1000, photo_bytes=3 * MB, videos=10, video_bytes=100 * MB,
    ),
    "d": dict(
        title="no-op nightly run (0.5 ms), 50,000 assets already backed up",
        latency_ms=0.5, bandwidth=0, photos=50000, photo_bytes=0, videos=0, video_bytes=0,
    ),
}


def find_tool(name):
    venv = ROOT / ".ci" / "venv" / "bin" / name
    if venv.is_file():
        return str(venv)
    return shutil.which(name)


def timed(cmd, env, cwd=None, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (seconds, peak RSS in bytes, exit status, stderr, CPU seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    # wait4 before communicate would deadlock on a full stderr pipe; stderr is small here,
    # but read it first anyway.
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss * 1024, proc.returncode, err.decode(errors="replace"), cpu


def tree_size(path, skip=(".lifeboat",)):
    files, size = 0, 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            if name == "SHA256SUMS":
                continue
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def make_library(work, key, spec, scale):
    photos = max(1, int(spec["photos"] * scale))
    videos = int(round(spec["videos"] * scale)) if spec["videos"] else 0
    media = work / f"library-{key}-{photos}-{videos}"
    if (media / ".made").is_file():
        return media
    shutil.rmtree(media, ignore_errors=True)
    cmd = [
        str(RELEASE / "fake-iphone"), "make-library", "--out", str(media),
        "--photos", str(photos), "--videos", str(videos),
        "--live", "0", "--edited", "0",
        "--photo-bytes", str(spec["photo_bytes"]), "--video-bytes", str(spec["video_bytes"]),
    ]
    print(f"  making the library: {photos} photos, {videos} videos ...", flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (media / ".made").write_text("")
    return media


def warm(media):
    """Reads the library once so every tool finds it in the page cache."""
    for dirpath, _, filenames in os.walk(media):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                while f.read(1 << 20):
                    pass


class Phone:
    """fake-iphone serving usbmuxd on a UNIX socket, as usbmuxd does on Linux and macOS."""

    def __init__(self, media, spec, work):
        self.socket = work / "usbmuxd.sock"
        if self.socket.exists():
            self.socket.unlink()
        cmd = [
            str(RELEASE / "fake-iphone"), "--media", str(media), "--unix", str(self.socket),
            "--latency-ms", str(spec["latency_ms"]), "--bandwidth-mbps", str(spec["bandwidth"]),
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready "):
            raise SystemExit(f"fake-iphone did not start: {line!r}")
        # lifeboat and libusbmuxd take UNIX:/path; pymobiledevice3 takes the bare path.
        self.address = f"UNIX:{self.socket}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run_lifeboat(env, phone, dest):
    cmd = [str(RELEASE / "lifeboat"), "export-photos", str(dest), "--usbmux", phone.address]
    return timed(cmd, env)


def run_pymobiledevice3(env, phone, dest, program):
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [program, "afc", "pull", "--usbmux", str(phone.socket), "/DCIM", str(dest)]
    return timed(cmd, env)


def run_ifuse(env, phone, dest, program, work):
    mount = Path(tempfile.mkdtemp(dir=work, prefix="mnt-"))
    env = dict(env, USBMUXD_SOCKET_ADDRESS=phone.address)
    daemon = subprocess.Popen([program, "-f", str(mount)], env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if os.path.ismount(mount):
                break
            if daemon.poll() is not None:
                return None, 0, daemon.returncode, daemon.stderr.read().decode(errors="replace"), 0.0
            time.sleep(0.05)
        seconds, _, status, err, cp_cpu = timed(["cp", "-r", str(mount / "DCIM"), str(dest)], env)
    finally:
        unmount = shutil.which("fusermount3") or shutil.which("fusermount") or "umount"
        subprocess.run([unmount, "-u", str(mount)] if "fusermount" in unmount else [unmount, str(mount)])
        _, wait_status, usage = os.wait4(daemon.pid, 0)
        shutil.rmtree(mount, ignore_errors=True)
    # The FUSE daemon does the phone side; cp only copies from the kernel.
    return seconds, usage.ru_maxrss * 1024, status, err, cp_cpu + usage.ru_utime + usage.ru_stime


def row(tool, seconds, rss, dest, spec, note="", cpu=0.0):
    files, size = tree_size(dest)
    mbps = size / MB / seconds if seconds else 0.0
    link = f"{100 * mbps / spec['bandwidth']:.0f}%" if spec["bandwidth"] else "-"
    return dict(tool=tool, seconds=seconds, mbps=mbps, files=files, bytes=size,
                files_per_s=files / seconds if seconds else 0.0, link=link, rss=rss, note=note, cpu=cpu)


def print_table(key, spec, rows):
    print(f"\n({key}) {spec['title']}")
    print(f"  {'tool':<18}{'time':>9}{'MB':>9}{'files':>8}{'MB/s':>9}{'files/s':>9}{'link':>7}"
          f"{'peak RSS':>10}{'CPU s':>8}  vs lifeboat")
    ours = next((r for r in rows if r["tool"] == "lifeboat"), None)
    for r in rows:
        ratio = ""
        if ours and r is not ours and r["seconds"]:
            ratio = f"lifeboat {r['seconds'] / ours['seconds']:.1f}x faster"
        print(f"  {r['tool']:<18}{r['seconds']:>8.2f}s{r['bytes'] / MB:>9.0f}{r['files']:>8}"
              f"{r['mbps']:>9.1f}{r['files_per_s']:>9.0f}{r['link']:>7}{r['rss'] / 2**20:>8.1f}MB"
              f"{r['cpu']:>8.2f}  {ratio}{r['note']}")


def scenario(key, args, work, env):
    spec = SCENARIOS[key]
    media = make_library(work, key, spec, args.scale)
    warm(media)
    phone = Phone(media, spec, work)
    rows = []
    try:
        subprocess.run([str(RELEASE / "lifeboat"), "pair", "--usbmux", phone.address], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        dest = args.dest_dir / f"dest-{key}-lifeboat"
        shutil.rmtree(dest, ignore_errors=True)
        if key == "d":
            seconds, rss, status, err, cpu = run_lifeboat(env, phone, dest)
            print(f"  first run (copies everything): {seconds:.2f}s", flush=True)
            seconds, rss, status, err, cpu = run_lifeboat(env, phone, dest)
            if status != 0:
                raise SystemExit(f"lifeboat failed: {err}")
            r = row("lifeboat (no-op)", seconds, rss, dest, spec, cpu=cpu)
            r.update(files=tree_size(dest)[0], bytes=0, mbps=0.0, files_per_s=0.0)
            rows.append(r)
            print_table(key, spec, rows)
            return rows
        seconds, rss, status, err, cpu = run_lifeboat(env, phone, dest)
        if status != 0:
            raise SystemExit(f"lifeboat failed: {err}")
        rows.append(row("lifeboat", seconds, rss, dest, spec, cpu=cpu))
        if not args.keep:
            shutil.rmtree(dest, ignore_errors=True)
        pmd3 = find_tool("pymobiledevice3")
        if pmd3 and "pymobiledevice3" in args.peers:
            dest = args.dest_dir / f"dest-{key}-pmd3"
            shutil.rmtree(dest, ignore_errors=True)
            seconds, rss, status, err, cpu = run_pymobiledevice3(env, phone, dest, pmd3)
            note = "" if status == 0 else f"  (exit {status}: {err.strip().splitlines()[-1:]})"
            rows.append(row("pymobiledevice3", seconds, rss, dest, spec, note, cpu))
            shutil.rmtree(dest, ignore_errors=True)
        ifuse = find_tool("ifuse")
        if ifuse and "ifuse" in args.peers and os.access("/dev/fuse", os.R_OK | os.W_OK):
            dest = args.dest_dir / f"dest-{key}-ifuse"
            shutil.rmtree(dest, ignore_errors=True)
            seconds, rss, status, err, cpu = run_ifuse(env, phone, dest, ifuse, work)
            if seconds is None:
                print(f"  ifuse did not mount: {err.strip()}")
            else:
                note = "" if status == 0 else f"  (exit {status})"
                rows.append(row("ifuse + cp -r", seconds, rss, dest, spec, note, cpu))
            shutil.rmtree(dest, ignore_errors=True)
    finally:
        phone.stop()
    print_table(key, spec, rows)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help="a, b, c and/or d (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of each scenario's file count")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lifeboat-bench",
                        help="libraries (kept for the next run) and destinations")
    parser.add_argument("--dest-dir", type=Path,
                        help="where the copies go (default: the work folder; use a tmpfs such as /dev/shm "
                             "to take the disk out of scenario c)")
    parser.add_argument("--peers", default="pymobiledevice3,ifuse", help="peers to run, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep lifeboat's destination folders")
    args = parser.parse_args()
    args.scenarios = args.scenarios or list(SCENARIOS)
    for key in args.scenarios:
        if key not in SCENARIOS:
            parser.error(f"no scenario {key!r}: choose from {', '.join(SCENARIOS)}")
    for binary in ("lifeboat", "fake-iphone"):
        if not (RELEASE / binary).is_file():
            raise SystemExit("build first: cargo build --release -p lifeboat -p fake-iphone")
    args.work.mkdir(parents=True, exist_ok=True)
    args.dest_dir = args.dest_dir or args.work
    args.dest_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(dir=args.work, prefix="home-"))
    env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CONFIG_HOME=str(home / ".config"))
    env.pop("USBMUXD_SOCKET_ADDRESS", None)
    print(f"lifeboat side by side, scale {args.scale}, {os.cpu_count()} CPUs, work folder {args.work}")
    for key in args.scenarios:
        scenario(key, args, args.work, env)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
