#!/usr/bin/env python3
"""lifeboat against its peers on the same simulated iPhone, side by side.

Starts fake-iphone with a link model over a library made by `fake-iphone make-library`,
then times, one after another on the same phone and the same files:

  lifeboat export-photos DEST
  pymobiledevice3 afc pull /DCIM DEST         (if pymobiledevice3 is found)
  ifuse MOUNT && cp -r MOUNT/DCIM DEST         (if ifuse and /dev/fuse are usable)

and prints MB/s, files/s, the share of the link limit, lifeboat's speed relative to each
peer, and each tool's peak RSS and CPU time (user + system, measured by GNU time, so children that
exit are measured exactly; for ifuse, the FUSE daemon's and cp's together).

Scenarios (issue 7):
  a  USB 2: 0.5 ms per request, 35 MB/s; 2,000 photos of 3 MB and 20 videos of 100 MB
  b  small files: 1 ms per request, 35 MB/s; 5,000 photos of 200 KB
  c  loopback, no link limit: lifeboat's own ceiling (hashing, writing, syscalls)
  d  a no-op nightly run over 50,000 assets, 0.5 ms per request (lifeboat only)

Device backups (issue 16), each tool against its own fresh phone (the same seed, so the
same files), with its own HOME (pair records) and its own destination:

  lifeboat backup DEST
  idevicebackup2 -u UDID backup [--full] DEST  (Debian's, if found; paired by idevicepair)
  pymobiledevice3 backup2 backup [--full] DEST (if found; paired by `lockdown pair`)

  ba  USB 2 (0.5 ms, 35 MB/s): a full backup of 2 GB in 20,000 files of mixed sizes:
      19,600 generated app, home and keychain files of 25-77 KB (1 GB) and 400 photos of
      2.5 MB (1 GB)
  bb  the next backup, incremental, with nothing changed
  bc  the next backup after 1% of the files changed (`backup-change-some`)
  --backup-loopback runs them with no link model, so the host side is all that is measured

"link" here is the payload the phone served (its own counter, `backup-served`) over the time
and the link's bandwidth. bb and bc need ba first, so asking for either runs ba too.

Run by hand, not in CI (scenario a moves 8 GB per tool at 35 MB/s, about 4 minutes each):

  cargo build --release -p lifeboat -p fake-iphone
  python3 benches/side_by_side.py                    # every scenario, full size
  python3 benches/side_by_side.py b c --scale 0.25   # some scenarios, a quarter of the files
  python3 benches/side_by_side.py ba bb bc           # the device backups

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
# cargo puts the binaries under $CARGO_TARGET_DIR when it is set (relative to where cargo ran,
# taken here as the workspace root).
GNU_TIME = "/usr/bin/time"  # Debian package `time`
RELEASE = ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "release"
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


BACKUP_SCENARIOS = {
    "ba": "full backup, USB 2 (0.5 ms, 35 MB/s), 2 GB in 20,000 files (19,600 of 25-77 KB, 400 of 2.5 MB)",
    "bb": "incremental backup, nothing changed",
    "bc": "incremental backup, 1% of the files changed",
}
BACKUP = dict(latency_ms=0.5, bandwidth=35, generated=19_600, generated_bytes=1_000 * MB,
              photos=400, photo_bytes=2_500_000, videos=0, video_bytes=0, changed_share=0.01)
UDID = "00008110-001A2B3C4D5E6F70"


def find_tool(name):
    venv = ROOT / ".ci" / "venv" / "bin" / name
    if venv.is_file():
        return str(venv)
    return shutil.which(name)


def timed(cmd, env, cwd=None, stdout=subprocess.DEVNULL):
    """Runs cmd; returns (seconds, peak RSS in bytes, exit status, stderr, CPU seconds).

    The peak RSS and CPU come from GNU time, which forks the command from its own small
    process: on Linux a child forked straight from this script starts with this script's
    high-water mark (`ru_maxrss` survives fork and exec), so a listing of a million files
    made here would show up as the tool's memory. Children the command waits for are
    counted, as wait4 counts them."""
    with tempfile.NamedTemporaryFile("r", prefix="lifeboat-time-") as usage_file:
        start = time.monotonic()
        proc = subprocess.Popen([GNU_TIME, "-q", "-o", usage_file.name, "-f", "%M %U %S", *cmd],
                                env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
        err = proc.stderr.read()
        proc.wait()
        seconds = time.monotonic() - start
        fields = usage_file.read().split()
    if len(fields) < 3:
        raise SystemExit(f"{GNU_TIME} gave no usage for {cmd[0]}: {err[-300:]!r}")
    rss_kb, user, system = int(fields[-3]), float(fields[-2]), float(fields[-1])
    return seconds, rss_kb * 1024, proc.returncode, err.decode(errors="replace"), user + system


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

    def __init__(self, media, spec, work, extra=()):
        self.socket = work / "usbmuxd.sock"
        if self.socket.exists():
            self.socket.unlink()
        cmd = [
            str(RELEASE / "fake-iphone"), "--media", str(media), "--unix", str(self.socket),
            "--latency-ms", str(spec["latency_ms"]), "--bandwidth-mbps", str(spec["bandwidth"]),
            *extra,
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ready "):
            raise SystemExit(f"fake-iphone did not start: {line!r}")
        # lifeboat and libusbmuxd take UNIX:/path; pymobiledevice3 takes the bare path.
        self.address = f"UNIX:{self.socket}"

    def control(self, line):
        """Sends one control line; returns the phone's answer."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def served(self):
        """Backup payload bytes the phone has uploaded so far."""
        answer = self.control("backup-served")
        if not answer.startswith("ok backup-served "):
            raise SystemExit(f"fake-iphone: {answer!r}")
        return int(answer.split()[-1])

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
    usage_file = tempfile.NamedTemporaryFile("r", prefix="lifeboat-time-")
    daemon = subprocess.Popen([GNU_TIME, "-q", "-o", usage_file.name, "-f", "%M %U %S", program, "-f", str(mount)],
                              env=env, stderr=subprocess.PIPE)
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
        daemon.wait()
        shutil.rmtree(mount, ignore_errors=True)
    with usage_file:
        fields = usage_file.read().split() or ["0", "0", "0"]
    # The FUSE daemon does the phone side; cp only copies from the kernel.
    return seconds, int(fields[-3]) * 1024, status, err, cp_cpu + float(fields[-2]) + float(fields[-1])


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


class BackupTool:
    """One backup tool: its own HOME, its destination, and how to pair and back up."""

    def __init__(self, name, program, work, dest_dir):
        self.name, self.program = name, program
        self.home = Path(tempfile.mkdtemp(dir=work, prefix=f"home-{name}-"))
        self.dest = dest_dir / f"backup-{name}"
        shutil.rmtree(self.dest, ignore_errors=True)
        self.dest.mkdir(parents=True)

    def env(self, phone):
        home = self.home
        env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"),
                   XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
        env.pop("USBMUXD_SOCKET_ADDRESS", None)
        if self.name == "idevicebackup2":
            env["USBMUXD_SOCKET_ADDRESS"] = phone.address
        if self.name == "pymobiledevice3":
            # pymobiledevice3 takes the bare socket path.
            env["USBMUXD_SOCKET_ADDRESS"] = str(phone.socket)
        return env

    def pair(self, phone):
        if self.name == "lifeboat":
            cmd = [self.program, "--usbmux", phone.address, "pair"]
        elif self.name == "idevicebackup2":
            cmd = [shutil.which("idevicepair") or "idevicepair", "pair"]
        else:
            cmd = [self.program, "lockdown", "pair"]
        out = subprocess.run(cmd, env=self.env(phone), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if out.returncode != 0:
            raise SystemExit(f"{self.name}: pairing failed: {out.stdout.decode(errors='replace')}")

    def backup(self, phone, full):
        if self.name == "lifeboat":
            cmd = [self.program, "--usbmux", phone.address, "backup", str(self.dest)]
        elif self.name == "idevicebackup2":
            cmd = [self.program, "-u", UDID, "backup", *(["--full"] if full else []), str(self.dest)]
        else:
            cmd = [self.program, "backup2", "backup", "--usbmux", str(phone.socket),
                   *(["--full"] if full else []), str(self.dest)]
        before = phone.served()
        seconds, rss, status, err, cpu = timed(cmd, self.env(phone))
        served = phone.served() - before
        return seconds, rss, status, err, cpu, served

    def clean(self):
        shutil.rmtree(self.dest, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)


def backup_tools(args, work):
    tools = [("lifeboat", str(RELEASE / "lifeboat"))]
    if "idevicebackup2" in args.peers or "ifuse" in args.peers:
        program = find_tool("idevicebackup2")
        if program and shutil.which("idevicepair"):
            tools.append(("idevicebackup2", program))
        else:
            print("  idevicebackup2 or idevicepair not found: skipped")
    if "pymobiledevice3" in args.peers:
        program = find_tool("pymobiledevice3")
        if program:
            tools.append(("pymobiledevice3", program))
        else:
            print("  pymobiledevice3 not found: skipped")
    return tools


def backup_scenarios(keys, args, work):
    """ba, then bb and/or bc, for each tool on a fresh phone; prints one table per scenario."""
    spec = dict(BACKUP, latency_ms=0.0, bandwidth=0) if args.backup_loopback else BACKUP
    scale = args.scale
    generated = max(5, int(spec["generated"] * scale))
    generated_bytes = int(spec["generated_bytes"] * scale)
    lib_spec = dict(photos=spec["photos"], photo_bytes=spec["photo_bytes"], videos=0, video_bytes=0)
    media = make_library(work, "backup", lib_spec, scale)
    warm(media)
    extra = ["--udid", UDID, "--backup-files", str(generated), "--backup-bytes", str(generated_bytes),
             "--backup-seed", "16"]
    results = {key: [] for key in BACKUP_SCENARIOS}
    # Each tool's folders are removed only after every tool has run: a tree of 20,000 files
    # deleted just before a timed run slows the next one's file creation (ext4 skips
    # recently freed inodes), by up to half on a loopback (a).
    done = []
    for name, program in backup_tools(args, work):
        tool = BackupTool(name, program, work, args.dest_dir)
        done.append(tool)
        phone = Phone(media, spec, work, extra)
        try:
            tool.pair(phone)
            runs = [("ba", True)]
            if "bb" in keys:
                runs.append(("bb", False))
            if "bc" in keys:
                runs.append(("bc", False))
            for key, full in runs:
                note = ""
                if key == "bc":
                    # 1% of the phone's files: the generated ones and the camera roll's.
                    count = max(1, int(round((generated + files_in(media)) * spec["changed_share"])))
                    answer = phone.control(f"backup-change-some {count}")
                    if not answer.startswith("ok "):
                        raise SystemExit(f"fake-iphone: {answer!r} (rebuild it)")
                    note = f"  ({answer.split()[2]} files changed)"
                # lifeboat syncs the new version with one syncfs, which would also write
                # out whatever the last run or the phone's set-up left dirty: no tool pays
                # for another's writes.
                os.sync()
                seconds, rss, status, err, cpu, served = tool.backup(phone, full)
                if status != 0:
                    last = err.strip().splitlines()[-3:]
                    note += f"  (exit {status}: {last})"
                print(f"  {name} {key}: {seconds:.2f}s, {served / MB:.1f} MB served, exit {status}", flush=True)
                results[key].append(dict(tool=name, seconds=seconds, rss=rss, cpu=cpu, bytes=served,
                                         note=note, status=status))
        finally:
            phone.stop()
    for tool in done:
        tool.clean()
    for key in BACKUP_SCENARIOS:
        if key == "ba" or key in keys:
            print_backup_table(key, results[key], spec, scale)


def files_in(media):
    """The camera roll's files (DCIM and PhotoData), as the phone backs them up."""
    return sum(len(names) for sub in ("DCIM", "PhotoData") for _, _, names in os.walk(media / sub))


def print_backup_table(key, rows, spec, scale):
    title = BACKUP_SCENARIOS[key]
    if not spec["bandwidth"]:
        title = title.replace("USB 2 (0.5 ms, 35 MB/s)", "loopback (no link model)")
        title += " (loopback: no link model)" if "loopback" not in title else ""
    print(f"\n({key}) {title}, scale {scale}")
    print(f"  {'tool':<18}{'time':>9}{'MB served':>11}{'link':>7}{'peak RSS':>10}{'CPU s':>8}  vs lifeboat")
    ours = next((r for r in rows if r["tool"] == "lifeboat"), None)
    for r in rows:
        ratio = ""
        if ours and r is not ours and r["seconds"] and ours["seconds"]:
            x = r["seconds"] / ours["seconds"]
            ratio = f"lifeboat {x:.2f}x faster" if x >= 1 else f"lifeboat {1 / x:.2f}x slower"
        link = (f"{100 * r['bytes'] / MB / (r['seconds'] * spec['bandwidth']):.0f}%"
                if r["bytes"] and r["seconds"] and spec["bandwidth"] else "-")
        print(f"  {r['tool']:<18}{r['seconds']:>8.2f}s{r['bytes'] / MB:>11.1f}{link:>7}"
              f"{r['rss'] / 2**20:>8.1f}MB{r['cpu']:>8.2f}  {ratio}{r['note']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*",
                        help="a, b, c, d, ba, bb and/or bc (default: a, b, c and d)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of each scenario's file count")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "lifeboat-bench",
                        help="libraries (kept for the next run) and destinations")
    parser.add_argument("--dest-dir", type=Path,
                        help="where the copies go (default: the work folder; use a tmpfs such as /dev/shm "
                             "to take the disk out of scenario c)")
    parser.add_argument("--peers", default="pymobiledevice3,ifuse,idevicebackup2",
                        help="peers to run, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep lifeboat's destination folders")
    parser.add_argument("--backup-loopback", action="store_true",
                        help="ba, bb, bc with no link model: what each tool's host side costs")
    args = parser.parse_args()
    args.scenarios = args.scenarios or list(SCENARIOS)
    for key in args.scenarios:
        if key not in SCENARIOS and key not in BACKUP_SCENARIOS:
            parser.error(f"no scenario {key!r}: choose from {', '.join([*SCENARIOS, *BACKUP_SCENARIOS])}")
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
        if key in SCENARIOS:
            scenario(key, args, args.work, env)
    backups = [key for key in args.scenarios if key in BACKUP_SCENARIOS]
    if backups:
        backup_scenarios(backups, args, args.work)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
