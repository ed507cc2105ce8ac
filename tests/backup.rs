//! `lifeboat backup` against the simulated iPhone (issue 16): full then incremental backups
//! kept as versions, a killed run, the device's error codes in words, and hostile paths.
//! Each backup is read back file by file against the simulated phone's bytes: by
//! pyiosbackup where it is installed, and always by fileID (docs/backup.md §2.1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fake_iphone::media::{Format, unique};
use fake_iphone::{BackupConfig, PasscodePrompt, PhoneConfig};

/// A paired phone with four photos and 40 generated files across the other domains.
fn start(tune: impl FnOnce(BackupConfig) -> BackupConfig) -> Phone {
    let backup = tune(BackupConfig {
        files: 40,
        bytes: 400_000,
        seed: 16,
        ..BackupConfig::default()
    });
    Phone::paired(presets::photos_only("17.5", 4), |c: PhoneConfig| {
        c.name("Ada's iPhone").backup(backup)
    })
}

fn said(out: &std::process::Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

/// fileID → SHA-256 of every file on the simulated phone now.
fn phone_files(phone: &Phone) -> BTreeMap<String, String> {
    phone
        .fake
        .backup_files(None)
        .iter()
        .map(|f| (f.file_id(), sha(&f.read().expect("a simulated file reads"))))
        .collect()
}

/// Every file of `want` is in `folder` at `<id[..2]>/<id>` with its bytes.
fn assert_holds(folder: &Path, want: &BTreeMap<String, String>, what: &str) {
    for (id, digest) in want {
        let blob = folder.join(&id[..2]).join(id);
        assert!(blob.is_file(), "{what}: {} is missing", blob.display());
        assert_eq!(&sha_file(&blob), digest, "{what}: {} differs", blob.display());
    }
    for name in ["Info.plist", "Manifest.plist", "Manifest.db", "Status.plist"] {
        assert!(folder.join(name).is_file(), "{what}: {name} is missing");
    }
    assert!(!folder.join("Snapshot").exists(), "{what}: Snapshot/ left behind");
    assert!(
        tree::files(folder)
            .iter()
            .all(|p| !transfer::fs::is_temporary(p.file_name().unwrap_or_default())),
        "{what}: a temporary file inside the version"
    );
}

/// pyiosbackup reads `folder` and gives the phone's bytes, where it is installed.
fn assert_pyiosbackup_reads(folder: &Path, phone: &Phone, what: &str) {
    let Some(script) = peer("pyiosbackup") else { return };
    let Some(python) = script
        .parent()
        .and_then(|d| ["python3", "python"].iter().map(|p| d.join(p)).find(|p| p.is_file()))
    else {
        return;
    };
    let code = "import sys, hashlib\n\
                from pyiosbackup import Backup\n\
                b = Backup.from_path(sys.argv[1], '')\n\
                for e in b.iter_files():\n\
                \x20   print(e.domain + '\\t' + e.relative_path + '\\t' + hashlib.sha256(e.read_bytes()).hexdigest())\n";
    let out = run(
        Command::new(python).arg("-c").arg(code).arg(folder),
        Duration::from_secs(120),
    );
    assert_success(&out, "pyiosbackup");
    let read: BTreeMap<(String, String), String> = text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut p = l.split('\t');
            Some(((p.next()?.into(), p.next()?.into()), p.next()?.into()))
        })
        .collect();
    let want: BTreeMap<(String, String), String> = phone
        .fake
        .backup_files(None)
        .iter()
        .map(|f| ((f.domain.clone(), f.path.clone()), sha(&f.read().unwrap())))
        .collect();
    assert_eq!(read, want, "{what}: pyiosbackup's reading differs from the phone");
}

fn backup(phone: &Phone, dest: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", dest.to_str().expect("UTF-8")];
    args.extend_from_slice(extra);
    phone.lifeboat(&args)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON summary: {e}\n{}", said(out)))
}

/// The version folders in `DEST/.lifeboat/<UDID>/versions`.
fn older_versions(dest: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dest.join(".lifeboat").join(UDID).join("versions"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn full_then_incremental_backups_are_versions_that_read_back() {
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let folder = dest.join(UDID);

    let full = backup(&phone, &dest, &["--full", "--json"]);
    assert_success(&full, "lifeboat backup --full");
    let summary = json(&full);
    assert_eq!(summary["full"], true, "{summary}");
    assert_eq!(summary["encrypted"], false);
    assert!(summary["files"].as_u64().unwrap() >= 40, "{summary}");
    let first_version = summary["version"].as_str().unwrap().to_string();
    let at_first = phone_files(&phone);
    assert_holds(&folder, &at_first, "full backup");
    assert_pyiosbackup_reads(&folder, &phone, "full backup");
    let served_full = phone.fake.backup_bytes_served(None);
    assert!(
        phone
            .fake
            .notifications_posted(None)
            .iter()
            .any(|n| n == "com.apple.itunes-mobdev.syncDidStart"),
        "the sync lock was taken"
    );
    // lifeboat's own manifest checks the version with coreutils alone.
    let manifest = dest
        .join(".lifeboat")
        .join(UDID)
        .join("manifests")
        .join(format!("{first_version}.sha256"));
    let sums = std::fs::read_to_string(&manifest).unwrap();
    assert!(sums.lines().count() >= 44, "{sums}");
    if let Some(sha256sum) = peer("sha256sum") {
        let check = run(
            Command::new(sha256sum)
                .arg("--quiet")
                .arg("-c")
                .arg(&manifest)
                .current_dir(&folder),
            Duration::from_secs(60),
        );
        assert_success(&check, "sha256sum -c on lifeboat's manifest");
    }

    // The phone changes: one file modified, one deleted, a note and a photo added.
    let files = phone.fake.backup_files(None);
    let changed = files.iter().find(|f| f.domain == "HomeDomain").unwrap();
    assert!(phone.fake.change_backup_file(None, &changed.domain, &changed.path));
    let gone = files.iter().find(|f| f.domain.starts_with("AppDomain-")).unwrap();
    assert!(phone.fake.delete_backup_file(None, &gone.domain, &gone.path));
    let note = b"written after the first backup\n".to_vec();
    let note_len = note.len() as u64;
    assert!(
        phone
            .fake
            .add_backup_file(None, "HomeDomain", "Library/Notes/new.txt", note)
    );
    let photo = unique(Format::Jpeg, "taken after the first backup", 5_000);
    std::fs::write(phone.media().join("DCIM/100APPLE/IMG_9001.JPG"), &photo).unwrap();
    let changed_bytes = changed.size + note_len + photo.len() as u64;

    let incremental = backup(&phone, &dest, &["--json"]);
    assert_success(&incremental, "lifeboat backup (incremental)");
    let summary = json(&incremental);
    assert_eq!(summary["full"], false, "{summary}");
    assert_eq!(summary["previous_version"].as_str(), Some(first_version.as_str()));
    assert_eq!(
        phone.fake.backup_bytes_served(None) - served_full,
        changed_bytes,
        "the incremental run moved only what changed"
    );
    assert_holds(&folder, &phone_files(&phone), "incremental backup");
    assert_pyiosbackup_reads(&folder, &phone, "incremental backup");

    // The older version still reads back exactly as it was.
    let older = older_versions(&dest);
    assert_eq!(older.len(), 1, "{older:?}");
    assert!(older[0].ends_with(&first_version));
    assert_holds(&older[0], &at_first, "the older version");
    let gone_id = gone.file_id();
    assert!(older[0].join(&gone_id[..2]).join(&gone_id).is_file());
    assert!(
        !folder.join(&gone_id[..2]).join(&gone_id).exists(),
        "deleted on the phone, gone in the new version"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let kept = at_first
            .keys()
            .find(|id| *id != &gone_id && *id != &changed.file_id())
            .unwrap();
        let ino = |d: &Path| std::fs::metadata(d.join(&kept[..2]).join(kept)).unwrap().ino();
        assert_eq!(ino(&older[0]), ino(&folder), "unchanged files are shared by hard link");
    }
}
