//! When the destination, not the phone, fails: a full disk, a read-only one, and a drive
//! unplugged in the middle of a run. Each gives a clear error, keeps the manifest true to
//! what is on disk (no row without its file, no partial file under a final name), and the
//! next run, once the destination is back, completes the backup.
//!
//! The full and read-only cases mount a small tmpfs in a private mount namespace
//! (`unshare -m`, as root in CI); the unplug case renames the folder away mid-run.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fake_iphone::library::{AssetKind, LibrarySpec, make_library};
use fake_iphone::{FakeIphone, Link, PhoneConfig, RunningFake};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

struct Setup {
    fake: RunningFake,
    home: Home,
    _media: tempfile::TempDir,
    want: Vec<String>,
}

fn setup(link: Link) -> Setup {
    let media = tempfile::tempdir().unwrap();
    let spec = LibrarySpec {
        ios: "17.5".into(),
        photos: 12,
        videos: 1,
        live: 2,
        edited: 1,
        cpl: 1,
        cloud_only: 0,
        trashed: 0,
        hidden: 0,
        albums: 1,
        truncated: 0,
        photo_padding: 80_000,
        video_padding: 200_000,
    };
    let assets = make_library(media.path(), &spec).unwrap();
    let mut want: Vec<String> = assets
        .iter()
        .filter(|a| a.kind != AssetKind::Trashed)
        .flat_map(|a| {
            a.files
                .iter()
                .map(|f| sha(&std::fs::read(media.path().join(f)).unwrap()))
        })
        .collect();
    want.sort();
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).link(link))
        .start()
        .unwrap();
    let home = Home::new();
    assert_success(&lifeboat(&fake, &home, &["pair"]), "pair");
    Setup {
        fake,
        home,
        _media: media,
        want,
    }
}

fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Hashes of the photos under final names; panics on a manifest row whose file is missing
/// or different, and on a temporary file unless `temporaries_allowed` (a run cut off from
/// its drive cannot remove them; the next run does).
fn consistent_with(dest: &Path, what: &str, temporaries_allowed: bool) -> Vec<String> {
    let mut photos = Vec::new();
    for path in files_under(dest) {
        let rel = path.strip_prefix(dest).unwrap().to_string_lossy().into_owned();
        if rel.ends_with(".lifeboat-part") {
            assert!(temporaries_allowed, "{what}: temporary left: {rel}");
            assert!(
                rel.rsplit('/').next().unwrap_or("").starts_with('.'),
                "{what}: {rel} is not hidden"
            );
            continue;
        }
        let base = rel.rsplit('/').next().unwrap_or("");
        if rel.starts_with(".lifeboat") || base == "SHA256SUMS" {
            continue;
        }
        photos.push(sha(&std::fs::read(&path).unwrap()));
    }
    if dest.join(".lifeboat/manifest.db").is_file() {
        let manifest = transfer::manifest::Manifest::open(dest).unwrap();
        for row in manifest.all().unwrap() {
            let bytes = std::fs::read(dest.join(&row.dest_path))
                .unwrap_or_else(|e| panic!("{what}: manifest row {} has no file: {e}", row.dest_path));
            assert_eq!(
                sha(&bytes),
                row.sha256,
                "{what}: {} differs from its row",
                row.dest_path
            );
        }
    }
    photos.sort();
    photos
}

fn consistent(dest: &Path, what: &str) -> Vec<String> {
    consistent_with(dest, what, false)
}

/// Runs `script` as root in a private mount namespace; `None` where that is not possible
/// (outside CI, without root).
fn in_mount_namespace(setup: &Setup, script: &str) -> Option<std::process::Output> {
    let unshare = peer("unshare")?;
    let mut cmd = Command::new(unshare);
    setup.home.apply(&mut cmd);
    cmd.env("LIFEBOAT", env!("CARGO_BIN_EXE_lifeboat"))
        .env("ADDR", setup.fake.usbmux_address())
        .args(["-m", "sh", "-euc", script]);
    let out = run(&mut cmd, Duration::from_secs(180));
    let err = text(&out.stderr);
    if err.contains("unshare failed") || err.contains("Operation not permitted") && err.contains("mount") {
        assert!(
            std::env::var_os("LIFEBOAT_REQUIRE_PEERS").is_none(),
            "mount namespaces are needed in CI: {err}"
        );
        eprintln!("skipping: no mount namespace here: {err}");
        return None;
    }
    Some(out)
}

#[test]
fn a_full_disk_stops_cleanly_and_the_next_run_finishes() {
    let setup = setup(Link::default());
    let area = tempfile::tempdir().unwrap();
    let (dest, saved_full, saved_done) = (
        area.path().join("dest"),
        area.path().join("full"),
        area.path().join("done"),
    );
    for dir in [&dest, &saved_full, &saved_done] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // About half the library fits. After the first run the disk is copied out as it was,
    // then grown, and the second run must finish the job.
    let script = format!(
        "mount -t tmpfs -o size=700k tmpfs '{dest}'
         set +e; \"$LIFEBOAT\" --usbmux \"$ADDR\" export-photos '{dest}' 2>'{area}/first.err'; echo \"first=$?\"; set -e
         cp -a '{dest}/.' '{full}/'
         mount -o remount,size=64m '{dest}'
         \"$LIFEBOAT\" --usbmux \"$ADDR\" export-photos '{dest}' >/dev/null 2>'{area}/second.err'; echo \"second=$?\"
         cp -a '{dest}/.' '{done}/'",
        dest = dest.display(),
        area = area.path().display(),
        full = saved_full.display(),
        done = saved_done.display(),
    );
    let Some(out) = in_mount_namespace(&setup, &script) else {
        return;
    };
    let stdout = text(&out.stdout);
    let first_err = std::fs::read_to_string(area.path().join("first.err")).unwrap_or_default();
    assert!(
        stdout.contains("first=1"),
        "a full disk fails the run: {stdout}\n{first_err}"
    );
    assert!(
        first_err.contains("the destination is full"),
        "the error says the disk is full: {first_err}"
    );
    let kept = consistent(&saved_full, "after the disk filled up");
    assert!(kept.len() < setup.want.len(), "the disk was meant to fill up");
    assert!(
        kept.iter().all(|k| setup.want.contains(k)),
        "only whole phone files are kept"
    );
    let second_err = std::fs::read_to_string(area.path().join("second.err")).unwrap_or_default();
    assert!(
        stdout.contains("second=0"),
        "with space again the run finishes: {stdout}\n{second_err}"
    );
    assert_eq!(consistent(&saved_done, "after the second run"), setup.want);
}

#[test]
fn a_read_only_destination_is_refused_clearly() {
    let setup = setup(Link::default());
    let area = tempfile::tempdir().unwrap();
    let dest = area.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{dest}' && mkdir '{dest}/photos' && mount -o remount,ro '{dest}'
         set +e; \"$LIFEBOAT\" --usbmux \"$ADDR\" export-photos '{dest}/photos'; echo \"exit=$?\"
         ls -A '{dest}/photos' | wc -l",
        dest = dest.display()
    );
    let Some(out) = in_mount_namespace(&setup, &script) else {
        return;
    };
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(!stdout.contains("exit=0"), "a read-only destination fails: {stdout}");
    assert!(stderr.contains("read-only"), "the error says read-only: {stderr}");
    assert!(stdout.trim_end().ends_with('0'), "nothing was written: {stdout}");
}

#[test]
fn an_unplugged_drive_keeps_what_was_recorded_true() {
    // Slow enough that the drive can be pulled while files are still arriving.
    let link = Link {
        latency: Duration::from_millis(1),
        bandwidth: Some(1_000_000),
    };
    let setup = setup(link);
    let area = tempfile::tempdir().unwrap();
    let dest = area.path().join("drive");
    let pulled = area.path().join("drive-pulled");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    setup.home.apply(&mut cmd);
    cmd.arg("--usbmux")
        .arg(setup.fake.usbmux_address())
        .arg("export-photos")
        .arg(&dest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Pull the drive once a few files have arrived: the folder vanishes from its path.
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.fake.file_bytes_served(None) < 600_000 {
        assert!(Instant::now() < deadline, "the export never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::rename(&dest, &pulled).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "a pulled drive fails the run: {stderr}");
    assert!(
        stderr.contains("the destination is gone"),
        "the error says so: {stderr}"
    );
    let kept = consistent_with(&pulled, "on the pulled drive", true);
    assert!(
        kept.iter().all(|k| setup.want.contains(k)),
        "only whole phone files are kept"
    );

    // Plugged back in: the next run completes, adopting or recopying what was unrecorded.
    std::fs::rename(&pulled, &dest).unwrap();
    let rerun = lifeboat(&setup.fake, &setup.home, &["export-photos", dest.to_str().unwrap()]);
    assert_success(&rerun, "the run after the drive came back");
    assert_eq!(consistent(&dest, "after the drive came back"), setup.want);
}
