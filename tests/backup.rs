//! `lifeboat backup` against the simulated iPhone (issue 16): full then incremental backups
//! kept as versions, a killed run, the device's error codes in words, and hostile paths.
//! Each backup is read back file by file against the simulated phone's bytes: by
//! pyiosbackup where it is installed, and always by fileID (docs/backup.md §2.1).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backup_folder::{self, verify_json};
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
    assert_pyiosbackup_reads_with(folder, "", phone, what);
}

/// [`assert_pyiosbackup_reads`] for a backup encrypted with `password` ("" for none).
fn assert_pyiosbackup_reads_with(folder: &Path, password: &str, phone: &Phone, what: &str) {
    let Some(script) = peer("pyiosbackup") else { return };
    let Some(python) = script
        .parent()
        .and_then(|d| ["python3", "python"].iter().map(|p| d.join(p)).find(|p| p.is_file()))
    else {
        return;
    };
    let code = "import sys, hashlib\n\
                from pyiosbackup import Backup\n\
                b = Backup.from_path(sys.argv[1], sys.argv[2])\n\
                for e in b.iter_files():\n\
                \x20   print(e.domain + '\\t' + e.relative_path + '\\t' + hashlib.sha256(e.read_bytes()).hexdigest())\n";
    let out = run(
        Command::new(python).arg("-c").arg(code).arg(folder).arg(password),
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

/// The report's check `name` was made.
fn assert_done(report: &serde_json::Value, name: &str) {
    let done = report["checks"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["name"] == name && c["done"] == true));
    assert!(done, "check {name} not done: {report:#}");
}

fn recorded_check(report: &serde_json::Value) -> (bool, String) {
    let check = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "recorded-sha256"))
        .unwrap_or_else(|| panic!("no recorded-sha256 check: {report:#}"));
    (
        check["done"] == true,
        check["note"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn verify_checks_lifeboat_backups_against_the_hashes_recorded_as_they_arrived() {
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let folder = dest.join(UDID);
    assert_success(&backup(&phone, &dest, &["--full"]), "lifeboat backup --full");
    assert_success(&backup(&phone, &dest, &[]), "lifeboat backup (a second version)");

    let (code, report, _) = verify_json(&folder, &[], None);
    assert_eq!(code, 0, "{report:#}");
    let (done, note) = recorded_check(&report);
    assert!(done, "the newest version is checked by its recorded SHA-256s: {note}");
    // The folder given to `lifeboat backup` is a folder of backups, beside lifeboat's own
    // `.lifeboat/`: verify finds the backup in it, not a photo folder without a manifest.
    let (code, report, _) = verify_json(&dest, &[], None);
    assert_eq!(code, 0, "{report:#}");
    assert!(recorded_check(&report).0, "{report:#}");
    // Issue 17's damage campaign, on copies of the folder and lifeboat's record of it.
    let made = backup_folder::Made {
        password: None,
        by_lifeboat: true,
    };
    backup_folder::damage_campaign(&folder, &phone, &made);
    // --deep also reads every file and checks it by type: still clean.
    let (code, report, _) = verify_json(&folder, &["--deep"], None);
    assert_eq!(code, 0, "{report:#}");
    assert!(recorded_check(&report).0, "{report:#}");
    assert_done(&report, "content");
    // `backups` lists the backup with its two versions, the newest last.
    let listed = phone.lifeboat(&["backups", "--json", dest.to_str().unwrap()]);
    assert_success(&listed, "lifeboat backups");
    let listed = json(&listed);
    let ours = listed["backups"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["udid"] == UDID))
        .unwrap_or_else(|| panic!("{listed:#}"));
    let versions = ours["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{ours:#}");
    assert_eq!(versions[1]["newest"], true);
    assert_eq!(versions[0]["newest"], false);
    let older = older_versions(&dest);
    let (code, report, _) = verify_json(&older[0], &[], None);
    assert_eq!(code, 0, "{report:#}");
    assert!(recorded_check(&report).0, "an older version by its own manifest");

    // One byte of a file changes, its size kept: only the recorded hash can see it.
    let victim = phone_files(&phone).into_keys().next().unwrap();
    let blob = folder.join(&victim[..2]).join(&victim);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0x20;
    // A new file in place of the old (the older version shares the old one by hard link).
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    let (code, report, _) = verify_json(&folder, &[], None);
    assert_eq!(code, 1, "a same-size change is found: {report:#}");
    assert_contains(&report.to_string(), &victim);
    let (code, _, _) = verify_json(&older[0], &[], None);
    assert_eq!(code, 0, "the older version is untouched");

    // Manifest.db changes, the database kept sound (a value in its header), and no backup
    // has run since: that is damage, and the blobs are still checked by their hashes.
    std::fs::remove_file(&blob).unwrap();
    std::fs::copy(older[0].join(&victim[..2]).join(&victim), &blob).unwrap();
    let db = folder.join("Manifest.db");
    let copy = root.path().join("Manifest.db");
    std::fs::copy(&db, &copy).unwrap();
    rusqlite::Connection::open(&copy)
        .and_then(|c| c.pragma_update(None, "user_version", 7))
        .unwrap();
    std::fs::remove_file(&db).unwrap();
    std::fs::rename(&copy, &db).unwrap();
    let (code, report, _) = verify_json(&folder, &[], None);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["findings"][0]["path"], "Manifest.db", "{report:#}");
    assert_eq!(report["findings"][0]["status"], "corrupt", "{report:#}");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1), "{report:#}");
    let (done, note) = recorded_check(&report);
    assert!(done, "{note}");
    assert_contains(&note, "no backup has run since");

    // Another tool backs up onto the folder: it rewrites Status.plist as well, so lifeboat's
    // hashes no longer apply, and the report says so.
    let status = folder.join("Status.plist");
    let mut doc = plist::Value::from_file(&status).unwrap();
    doc.as_dictionary_mut()
        .unwrap()
        .insert("UUID".into(), plist::Value::String("ANOTHER-TOOLS-RUN".into()));
    std::fs::remove_file(&status).unwrap();
    doc.to_file_xml(&status).unwrap();
    let (code, report, _) = verify_json(&folder, &[], None);
    assert_eq!(code, 0, "{report:#}");
    let (done, note) = recorded_check(&report);
    assert!(!done, "{note}");
    assert_contains(&note, "another tool has backed up onto this folder");
}

/// SHA-256 of every file under `folder`, by relative path.
fn snapshot(folder: &Path) -> BTreeMap<String, String> {
    tree::hashes(folder)
}

/// Starts `lifeboat backup DEST` as a child process.
fn spawn_backup(phone: &Phone, dest: &Path, extra: &[&str]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    phone.home.apply(&mut cmd);
    cmd.arg("--usbmux")
        .arg(phone.fake.usbmux_address())
        .arg("backup")
        .arg(dest)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().expect("lifeboat starts")
}

/// Kills lifeboat `kills` times at moments spread over a whole run: after each, the newest
/// version is whole (the last good one, or one a run finished before the kill), with no
/// temporary file inside it.
fn kill_rounds(phone: &Phone, dest: &Path, kills: usize, seed: u64) {
    let folder = dest.join(UDID);
    let started = Instant::now();
    assert_success(&backup(phone, dest, &["--full"]), "a backup before the kills");
    let whole_run = started.elapsed();
    let good = snapshot(&folder);
    let mut rng = Rng(seed);
    for round in 0..kills {
        let at = whole_run.mul_f64(rng.below(1000) as f64 / 1000.0);
        let mut child = spawn_backup(phone, dest, &["--full"]);
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let now = snapshot(&folder);
        // A run that finished before the kill made a new good version; otherwise nothing moved.
        if now != good {
            assert_holds(
                &folder,
                &phone_files(phone),
                &format!("round {round}: a run that completed"),
            );
        }
        assert!(
            tree::files(&folder)
                .iter()
                .all(|p| !transfer::fs::is_temporary(p.file_name().unwrap_or_default())),
            "round {round}: a temporary file inside the newest version"
        );
    }
}

/// Twenty kills at random moments of a backup, a stall mid-upload, and a dropped
/// connection: after each, the last good version is intact, and the next run completes.
#[test]
fn a_killed_run_leaves_the_last_version_intact_and_the_next_completes() {
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let folder = dest.join(UDID);
    kill_rounds(&phone, &dest, 20, 0x0016_1616);
    // A stall mid-upload, killed while lifeboat waits for the phone (arming resets the
    // served-bytes counter the faults count).
    let good = snapshot(&folder);
    assert!(phone.fake.arm(
        None,
        fake_iphone::Faults {
            stall_after: Some(150_000),
            ..Default::default()
        }
    ));
    let mut child = spawn_backup(&phone, &dest, &["--full"]);
    let waited = Instant::now();
    while phone.fake.faults_fired(None).is_empty() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(phone.fake.faults_fired(None), vec!["stall"]);
    assert_eq!(snapshot(&folder), good, "the stalled run changed nothing");
    phone.fake.attach(None);

    // A dropped connection ends the run with exit 1; the version is untouched.
    assert!(phone.fake.arm(
        None,
        fake_iphone::Faults {
            drop_after: Some(150_000),
            ..Default::default()
        }
    ));
    let dropped = backup(&phone, &dest, &["--full"]);
    assert_eq!(dropped.status.code(), Some(1), "{}", said(&dropped));
    assert_eq!(snapshot(&folder), good, "the dropped run changed nothing");
    phone.fake.attach(None);

    let next = backup(&phone, &dest, &[]);
    assert_success(&next, "the run after the kills");
    assert_holds(&folder, &phone_files(&phone), "after the kills");
    assert_pyiosbackup_reads(&folder, &phone, "after the kills");
    let work = dest.join(".lifeboat").join(UDID).join("work");
    assert!(!work.exists(), "no work tree left behind");
}

/// The long campaign: `cargo test --test backup -- --ignored`.
#[test]
#[ignore]
fn many_kills() {
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    kill_rounds(&phone, &dest, 200, 0x00c0_ffee);
    assert_success(&backup(&phone, &dest, &[]), "the run after the kills");
    assert_holds(&dest.join(UDID), &phone_files(&phone), "after the kills");
}

/// idevicebackup2 adds an incremental backup to a folder lifeboat made: the phone's own
/// checks accept lifeboat's manifest and folder, as a real phone's would.
#[test]
fn idevicebackup2_continues_a_backup_lifeboat_made() {
    let Some([idevicebackup2]) = peers(["idevicebackup2"]) else {
        return;
    };
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    assert_success(&backup(&phone, &dest, &[]), "lifeboat backup");
    let note = b"after lifeboat's backup\n".to_vec();
    assert!(
        phone
            .fake
            .add_backup_file(None, "HomeDomain", "Library/Notes/later.txt", note)
    );
    let before = phone.fake.backup_bytes_served(None);
    // idevicebackup2 reads the pair record lifeboat's home keeps for usbmuxd.
    let mut cmd = Command::new(idevicebackup2);
    phone.home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", phone.fake.usbmux_address())
        .args(["-u", UDID, "backup"])
        .arg(&dest);
    let out = run(&mut cmd, Duration::from_secs(120));
    assert_contains(&said(&out), "Backup Successful");
    assert!(
        phone.fake.backup_bytes_served(None) - before < 1_000,
        "incremental on lifeboat's folder: only the new note"
    );
    assert_holds(
        &dest.join(UDID),
        &phone_files(&phone),
        "idevicebackup2 on lifeboat's folder",
    );
    // Its run rewrote Manifest.db and Status.plist: verify finds nothing wrong, and says
    // lifeboat's hashes no longer apply.
    let (code, report, _) = verify_json(&dest.join(UDID), &[], None);
    assert_eq!(code, 0, "{report:#}");
    let (done, note) = recorded_check(&report);
    assert!(!done, "{note}");
    assert_contains(&note, "another tool has backed up onto this folder");
}

/// Each of the phone's errors the simulator makes gives exit 1 and its sentence.
#[test]
fn device_errors_are_sentences_with_exit_1() {
    // 205: a blob the manifest names is gone from the last backup.
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    assert_success(&backup(&phone, &dest, &[]), "the first backup");
    let id = phone.fake.backup_files(None)[0].file_id();
    std::fs::remove_file(dest.join(UDID).join(&id[..2]).join(&id)).unwrap();
    let broken = backup(&phone, &dest, &[]);
    assert_eq!(broken.status.code(), Some(1), "{}", said(&broken));
    assert_contains(&said(&broken), "the earlier backup in this folder is damaged");
    assert_contains(&said(&broken), "files Manifest.db names are missing");
    assert_contains(&said(&broken), &format!("{}/{id}", &id[..2]));
    assert_contains(&said(&broken), "lifeboat backup --full");
    assert_success(&backup(&phone, &dest, &["--full"]), "a full backup repairs it");

    let cases: [(BackupConfig, &[&str]); 3] = [
        (
            BackupConfig {
                free_space_margin: u64::MAX / 4,
                ..BackupConfig::default()
            },
            &[
                "there is not enough free space for the backup on this computer",
                "is free in",
            ],
        ),
        (
            BackupConfig {
                free_space_margin: u64::MAX / 4,
                purge_disk_space: true,
                ..BackupConfig::default()
            },
            &["not enough free space", "the backup needs about"],
        ),
        (
            BackupConfig {
                passcode: PasscodePrompt::Never,
                passcode_timeout: Duration::from_secs(1),
                ..BackupConfig::default()
            },
            &["the passcode was not entered on the iPhone in time", "iPhone error 208"],
        ),
    ];
    for (config, sentences) in cases {
        let phone = Phone::paired(presets::photos_only("17.5", 1), |c| c.backup(config));
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("backups");
        let started = Instant::now();
        let out = backup(&phone, &dest, &["--full"]);
        assert_eq!(out.status.code(), Some(1), "{}", said(&out));
        for sentence in sentences {
            assert_contains(&said(&out), sentence);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no hang");
        assert!(!dest.join(UDID).exists(), "a failed first run publishes nothing");
    }
}

/// The passcode prompt is announced, and the run waits it out.
#[test]
fn the_passcode_prompt_is_announced() {
    let phone = start(|b| BackupConfig {
        passcode: PasscodePrompt::EnterAfter(Duration::from_secs(3)),
        ..b
    });
    let root = tempfile::tempdir().unwrap();
    let out = phone.lifeboat(&["--device-timeout", "1", "backup", root.path().to_str().unwrap()]);
    assert_success(&out, "a backup behind the passcode prompt");
    assert_contains(
        &said(&out),
        "Enter the iPhone's passcode on the iPhone to start the backup",
    );
}

/// Encryption on, then a wrong password refused with 207, then off again.
#[test]
fn encryption_switches_and_password_errors() {
    let phone = start(|b| BackupConfig {
        kdf_rounds: (1, 1),
        ..b
    });
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let pw = root.path().join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    let on = backup(
        &phone,
        &dest,
        &["--encrypt", "--password-file", pw.to_str().unwrap(), "--json"],
    );
    assert_success(&on, "backup --encrypt");
    assert!(!said(&on).contains("correct horse"), "the password is never printed");
    assert_eq!(json(&on)["encrypted"], true);
    let health = phone.backup_file_ids("HealthDomain");
    assert!(!health.is_empty());
    assert_pyiosbackup_reads_with(&dest.join(UDID), "correct horse", &phone, "encrypted backup");
    // lifeboat's own encrypted backup verifies clean, with and without --deep.
    for extra in [&[][..], &["--deep"]] {
        let mut args = vec!["--password-file", pw.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (code, report, _) = verify_json(&dest.join(UDID), &args, None);
        assert_eq!(code, 0, "{extra:?}: {report:#}");
        assert_eq!(report["encrypted"], true, "{report:#}");
        assert!(recorded_check(&report).0, "{report:#}");
        if !extra.is_empty() {
            assert_done(&report, "content");
        }
    }
    let made = backup_folder::Made {
        password: Some("correct horse"),
        by_lifeboat: true,
    };
    backup_folder::damage_campaign(&dest.join(UDID), &phone, &made);
    let info = phone.lifeboat(&["info"]);
    assert_contains(&text(&info.stdout), "Backups:  encrypted");

    let wrong = root.path().join("wrong");
    std::fs::write(&wrong, "wrong\n").unwrap();
    let refused = backup(
        &phone,
        &dest,
        &["--no-encrypt", "--password-file", wrong.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", said(&refused));
    assert_contains(&said(&refused), "the backup password is wrong");

    let off = backup(
        &phone,
        &dest,
        &["--no-encrypt", "--password-file", pw.to_str().unwrap(), "--json"],
    );
    assert_success(&off, "backup --no-encrypt");
    assert_eq!(json(&off)["encrypted"], false);
    assert_holds(&dest.join(UDID), &phone_files(&phone), "plain again");
    // The phone no longer backs HealthDomain up and names none of it: the new version has
    // no such blob left over, so verify finds nothing; the encrypted version keeps them.
    let blob = |dir: &Path, id: &str| dir.join(&id[..2]).join(id);
    assert!(health.iter().all(|id| !blob(&dest.join(UDID), id).exists()));
    let (code, report, _) = verify_json(&dest.join(UDID), &[], None);
    assert_eq!(code, 0, "{report:#}");
    let versions = dest.join(".lifeboat").join(UDID).join("versions");
    let encrypted_era: Vec<PathBuf> = std::fs::read_dir(&versions)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|v| health.iter().all(|id| blob(v, id).is_file()))
        .collect();
    assert!(
        !encrypted_era.is_empty(),
        "an older version keeps the HealthDomain blobs"
    );
}

/// Every kind of hostile path the simulator sends is refused: nothing is written outside
/// `DEST/<UDID>`, the refusals are reported, and the backup still completes.
#[test]
fn hostile_paths_write_nothing_outside_the_backup() {
    let phone = start(|b| BackupConfig {
        hostile_paths: true,
        ..b
    });
    let absolute = Path::new("/tmp/fake-iphone-absolute-upload");
    let absolute_before = absolute.exists();
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let out = backup(&phone, &dest, &["--json"]);
    assert_success(&out, "a backup with hostile paths");
    let summary = json(&out);
    let refused = summary["refused_paths"].as_array().unwrap();
    assert!(refused.len() >= 4, "{summary}");
    let top: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["backups"]);
    let mut inside: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    inside.sort();
    assert_eq!(inside, [".lifeboat", UDID]);
    assert!(
        tree::files(root.path())
            .iter()
            .all(|p| !p.to_string_lossy().contains("escaped"))
    );
    if !absolute_before {
        assert!(!absolute.exists(), "the absolute upload path was written");
    }
    assert_holds(&dest.join(UDID), &phone_files(&phone), "with hostile paths refused");
}

/// `lifeboat status` knows about device backups: a phone without a recent full one gets a
/// warning with the command to run, until `lifeboat backup` makes one.
#[test]
fn status_warns_until_a_full_backup_is_made() {
    let phone = start(|b| b);
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("backups");
    let config = root.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\nfull_backup_warn_days = 30\n\n[[phone]]\nudid = {UDID:?}\nname = \"Ada\"\ndestination = {:?}\n",
            root.path().join("state"),
            root.path().join("photos"),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let before = phone.lifeboat(&["status", "--config", config]);
    assert_contains(
        &said(&before),
        "no full device backup in the last 30 days; run `lifeboat backup --full`",
    );
    assert_success(&backup(&phone, &dest, &["--config", config]), "lifeboat backup");
    let after = phone.lifeboat(&["status", "--config", config]);
    assert_contains(&said(&after), "device backup");
    assert_contains(&said(&after), ": full, version ");
    assert!(!said(&after).contains("no full device backup"), "{}", said(&after));
}
