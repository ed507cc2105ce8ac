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
use fake_iphone::Link;
use fake_iphone::library::LibrarySpec;

/// The library every case backs up: about half of it fits the full disk.
fn library() -> LibrarySpec {
    LibrarySpec {
        photos: 12,
        live: 2,
        photo_padding: 80_000,
        video_padding: 200_000,
        ..presets::one_of_each("17.5")
    }
}

/// Hashes of the photos under final names; panics on a manifest row whose file is missing
/// or different, and on a temporary file unless `temporaries_allowed` (a run cut off from
/// its drive cannot remove them; the next run does).
fn consistent_with(dest: &Path, what: &str, temporaries_allowed: bool) -> Vec<String> {
    let mut photos = Vec::new();
    for path in tree::files_if_readable(dest) {
        let rel = tree::rel(dest, &path);
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
        photos.push(sha_file(&path));
    }
    manifest_rows_have_files(dest, what);
    photos.sort();
    photos
}

fn consistent(dest: &Path, what: &str) -> Vec<String> {
    consistent_with(dest, what, false)
}

/// Runs `script` as root in a private mount namespace; `None` where that is not possible
/// (outside CI, without root).
fn in_mount_namespace(phone: &Phone, script: &str) -> Option<std::process::Output> {
    let unshare = peer("unshare")?;
    let mut cmd = Command::new(unshare);
    phone.home.apply(&mut cmd);
    cmd.env("LIFEBOAT", env!("CARGO_BIN_EXE_lifeboat"))
        .env("ADDR", phone.fake.usbmux_address())
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
    let phone = Phone::paired(library(), |c| c);
    let want = phone.expected_export();
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
    let Some(out) = in_mount_namespace(&phone, &script) else {
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
    assert!(kept.len() < want.len(), "the disk was meant to fill up");
    assert!(kept.iter().all(|k| want.contains(k)), "only whole phone files are kept");
    let second_err = std::fs::read_to_string(area.path().join("second.err")).unwrap_or_default();
    assert!(
        stdout.contains("second=0"),
        "with space again the run finishes: {stdout}\n{second_err}"
    );
    assert_eq!(consistent(&saved_done, "after the second run"), want);
}

#[test]
fn a_read_only_destination_is_refused_clearly() {
    let phone = Phone::paired(library(), |c| c);
    let area = tempfile::tempdir().unwrap();
    let dest = area.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{dest}' && mkdir '{dest}/photos' && mount -o remount,ro '{dest}'
         set +e; \"$LIFEBOAT\" --usbmux \"$ADDR\" export-photos '{dest}/photos'; echo \"exit=$?\"
         ls -A '{dest}/photos' | wc -l",
        dest = dest.display()
    );
    let Some(out) = in_mount_namespace(&phone, &script) else {
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
    let phone = Phone::paired(library(), |c| c.link(link));
    let want = phone.expected_export();
    let area = tempfile::tempdir().unwrap();
    let dest = area.path().join("drive");
    let pulled = area.path().join("drive-pulled");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    phone.home.apply(&mut cmd);
    cmd.arg("--usbmux")
        .arg(phone.fake.usbmux_address())
        .arg("export-photos")
        .arg(&dest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Pull the drive once a few files have arrived: the folder vanishes from its path.
    let deadline = Instant::now() + Duration::from_secs(60);
    while phone.fake.file_bytes_served(None) < 600_000 {
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
    assert!(kept.iter().all(|k| want.contains(k)), "only whole phone files are kept");

    // Plugged back in: the next run completes, adopting or recopying what was unrecorded.
    std::fs::rename(&pulled, &dest).unwrap();
    let rerun = phone.lifeboat(&["export-photos", dest.to_str().unwrap()]);
    assert_success(&rerun, "the run after the drive came back");
    assert_eq!(consistent(&dest, "after the drive came back"), want);
}
