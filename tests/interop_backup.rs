//! Full and incremental backups of the simulated iPhone by the real backup tools, Debian's
//! `idevicebackup2` and `pymobiledevice3 backup2`, read back by an independent reader,
//! pyiosbackup (docs/backup.md §5). They work with real phones, so when they make complete
//! backups here, the simulator's BackupAgent speaks the real protocol; when pyiosbackup
//! gives the simulated files' exact bytes, its folder format is the real one.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::backup_folder::{Made, damage_campaign, findings, verify_json};
use common::*;
use fake_iphone::media::{Format, unique};
use fake_iphone::{BackupConfig, PasscodePrompt, PhoneConfig};

const LIMIT: Duration = Duration::from_secs(300);

/// A phone with four photos and 40 generated files across the other domains.
fn start(tune: impl FnOnce(BackupConfig) -> BackupConfig) -> Phone {
    let backup = tune(BackupConfig {
        files: 40,
        bytes: 400_000,
        seed: 16,
        ..BackupConfig::default()
    });
    Phone::start(presets::photos_only("17.5", 4), |c: PhoneConfig| {
        c.name("Ada's iPhone").backup(backup)
    })
}

/// The Python beside pyiosbackup (in `.ci/venv`), once pyiosbackup is known to be there.
fn reader() -> Option<PathBuf> {
    let script = peer("pyiosbackup")?;
    let dir = script.parent()?;
    ["python3", "python"].iter().map(|p| dir.join(p)).find(|p| p.is_file())
}

/// (domain, relativePath) → SHA-256 of every file pyiosbackup reads out of `folder`.
fn read_with_pyiosbackup(python: &Path, folder: &Path, password: &str) -> BTreeMap<(String, String), String> {
    let script = "import sys, hashlib\n\
                  from pyiosbackup import Backup\n\
                  b = Backup.from_path(sys.argv[1], sys.argv[2])\n\
                  for e in b.iter_files():\n\
                  \x20   print(e.domain + '\\t' + e.relative_path + '\\t' + hashlib.sha256(e.read_bytes()).hexdigest())\n";
    let out = run(
        Command::new(python).arg("-c").arg(script).arg(folder).arg(password),
        LIMIT,
    );
    assert_success(&out, "pyiosbackup reading the backup");
    text(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let (domain, path, sha) = (parts.next()?, parts.next()?, parts.next()?);
            Some(((domain.to_string(), path.to_string()), sha.to_string()))
        })
        .collect()
}

/// (domain, relativePath) → SHA-256 of every file on the simulated phone now.
fn on_the_phone(phone: &Phone) -> BTreeMap<(String, String), String> {
    phone
        .fake
        .backup_files(None)
        .iter()
        .map(|f| {
            let bytes = f.read().expect("a simulated file reads");
            ((f.domain.clone(), f.path.clone()), sha(&bytes))
        })
        .collect()
}

/// pyiosbackup reads every file of the phone, with its exact bytes, and nothing else, out of
/// `folder`; among them photos, app data, home and keychain files.
fn assert_reads_back(python: &Path, folder: &Path, phone: &Phone, what: &str) {
    assert_reads_back_with(python, folder, "", phone, what);
}

/// [`assert_reads_back`] for a backup encrypted with `password` ("" for none).
fn assert_reads_back_with(python: &Path, folder: &Path, password: &str, phone: &Phone, what: &str) {
    assert_pyiosbackup_reads(python, folder, password, phone, what);
    // lifeboat's verify finds nothing wrong with what the peer made, nor with --deep.
    let password = (!password.is_empty()).then_some(password);
    for extra in [&[][..], &["--deep"]] {
        let (code, report, stderr) = verify_json(folder, extra, password);
        assert_eq!(
            findings(&report),
            vec![],
            "{what}: verify {extra:?}: {report}\n{stderr}"
        );
        assert_eq!(code, 0, "{what}: verify {extra:?}: {report}\n{stderr}");
        assert_eq!(report["encrypted"], password.is_some(), "{report}");
    }
}

/// pyiosbackup reads every file of the phone out of `folder`, byte for byte.
fn assert_pyiosbackup_reads(python: &Path, folder: &Path, password: &str, phone: &Phone, what: &str) {
    let read = read_with_pyiosbackup(python, folder, password);
    let want = on_the_phone(phone);
    for domain in [
        "CameraRollDomain",
        "HomeDomain",
        "KeychainDomain",
        "AppDomain-com.example.notes",
    ] {
        assert!(want.keys().any(|(d, _)| d == domain), "the phone has files in {domain}");
    }
    assert!(
        want.keys()
            .any(|(d, p)| d == "CameraRollDomain" && p.starts_with("Media/DCIM/")),
        "a photo is among them"
    );
    assert_eq!(
        read, want,
        "{what}: pyiosbackup's reading of the backup differs from the phone"
    );
}

/// Adds, changes and deletes files on the phone; returns the bytes an incremental backup
/// must upload for them.
fn change_the_phone(phone: &Phone) -> u64 {
    let files = phone.fake.backup_files(None);
    let changed = files
        .iter()
        .find(|f| f.domain == "HomeDomain")
        .expect("a HomeDomain file");
    assert!(phone.fake.change_backup_file(None, &changed.domain, &changed.path));
    let gone = files
        .iter()
        .find(|f| f.domain.starts_with("AppDomain-"))
        .expect("an app's file");
    assert!(phone.fake.delete_backup_file(None, &gone.domain, &gone.path));
    let note = b"a note written after the first backup\n".to_vec();
    let note_len = note.len() as u64;
    assert!(
        phone
            .fake
            .add_backup_file(None, "HomeDomain", "Library/Notes/new-note.txt", note)
    );
    let photo = unique(Format::Jpeg, "taken after the first backup", 5_000);
    std::fs::write(phone.media().join("DCIM/100APPLE/IMG_9001.JPG"), &photo).expect("a new photo");
    changed.size + note_len + photo.len() as u64
}

fn total_bytes(phone: &Phone) -> u64 {
    phone.fake.backup_files(None).iter().map(|f| f.size).sum()
}

fn limd(phone: &Phone, program: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    phone.home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", phone.fake.usbmux_address())
        .args(args);
    run(&mut cmd, LIMIT)
}

fn pmd3(phone: &Phone, program: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    phone.home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", phone.fake.usbmux_address())
        .args(args);
    run(&mut cmd, LIMIT)
}

/// pymobiledevice3 pairs with `phone` and makes a full backup into a new folder: that
/// folder (removed when dropped) and what the backup printed.
fn pmd3_full_backup(phone: &Phone, program: &Path) -> (tempfile::TempDir, Output) {
    assert_success(
        &pmd3(phone, program, &["lockdown", "pair"]),
        "pymobiledevice3 lockdown pair",
    );
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let address = phone.fake.usbmux_address();
    let full = pmd3(
        phone,
        program,
        &["backup2", "backup", "--usbmux", &address, "--full", dir],
    );
    (backups, full)
}

fn said(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

#[test]
fn idevicebackup2_makes_full_then_incremental_backups_that_pyiosbackup_reads() {
    let Some([idevicepair, idevicebackup2]) = peers(["idevicepair", "idevicebackup2"]) else {
        return;
    };
    let Some(python) = reader() else { return };
    let phone = start(|b| b);
    assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let folder = backups.path().join(UDID);

    let full = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
    assert_success(&full, "idevicebackup2 backup --full");
    assert_contains(&said(&full), "Backup Successful");
    assert_eq!(
        phone.fake.backup_bytes_served(None),
        total_bytes(&phone),
        "a full backup sends everything"
    );
    assert!(!folder.join("Snapshot").exists(), "Snapshot/ is moved away and removed");
    assert_reads_back(&python, &folder, &phone, "full backup by idevicebackup2");

    let before = phone.fake.backup_bytes_served(None);
    let changed_bytes = change_the_phone(&phone);
    let incremental = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_success(&incremental, "idevicebackup2 backup (incremental)");
    assert_contains(&said(&incremental), "Backup Successful");
    assert_eq!(
        phone.fake.backup_bytes_served(None) - before,
        changed_bytes,
        "the incremental backup sends only what changed"
    );
    assert_reads_back(&python, &folder, &phone, "incremental backup by idevicebackup2");

    // Nothing changed: nothing is sent.
    let before = phone.fake.backup_bytes_served(None);
    let again = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&again), "Backup Successful");
    assert_eq!(phone.fake.backup_bytes_served(None), before);
}

#[test]
fn pymobiledevice3_makes_full_then_incremental_backups_that_pyiosbackup_reads() {
    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    let Some(python) = reader() else { return };
    // The passcode prompt shows for two seconds: pymobiledevice3 observes it and says so.
    let phone = start(|b| BackupConfig {
        passcode: PasscodePrompt::EnterAfter(Duration::from_secs(2)),
        ..b
    });
    let (backups, full) = pmd3_full_backup(&phone, &program);
    assert_success(&full, "pymobiledevice3 backup2 backup --full");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let folder = backups.path().join(UDID);
    let address = phone.fake.usbmux_address();
    assert_contains(&said(&full), "enter the device passcode");
    assert!(
        phone
            .fake
            .notifications_posted(None)
            .iter()
            .any(|n| n == "com.apple.itunes-mobdev.syncDidStart"),
        "the host took the sync lock: {:?}",
        phone.fake.notifications_posted(None)
    );
    assert_eq!(phone.fake.backup_bytes_served(None), total_bytes(&phone));
    assert_reads_back(&python, &folder, &phone, "full backup by pymobiledevice3");
    let made = Made {
        password: None,
        by_lifeboat: false,
    };
    damage_campaign(&folder, &phone, &made);

    let before = phone.fake.backup_bytes_served(None);
    let changed_bytes = change_the_phone(&phone);
    let incremental = pmd3(&phone, &program, &["backup2", "backup", "--usbmux", &address, dir]);
    assert_success(&incremental, "pymobiledevice3 backup2 backup (incremental)");
    assert_eq!(
        phone.fake.backup_bytes_served(None) - before,
        changed_bytes,
        "the incremental backup sends only what changed"
    );
    assert_reads_back(&python, &folder, &phone, "incremental backup by pymobiledevice3");
}

/// An encrypted backup made by pymobiledevice3 (the phone has a backup password; the tool
/// never knows it): pyiosbackup decrypts every file, HealthDomain among them, and lifeboat's
/// verify, with and without --deep, finds nothing wrong and a wrong password exit 1.
#[test]
fn pymobiledevice3_makes_an_encrypted_backup_that_pyiosbackup_and_verify_read() {
    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    let Some(python) = reader() else { return };
    let phone = start(|b| BackupConfig {
        password: Some("correct horse".into()),
        kdf_rounds: (1, 1),
        ..b
    });
    let (backups, full) = pmd3_full_backup(&phone, &program);
    assert_success(&full, "pymobiledevice3 backup2 backup --full (encrypted)");
    let folder = backups.path().join(UDID);
    assert!(phone.fake.backup_files(None).iter().any(|f| f.domain == "HealthDomain"));
    assert_reads_back_with(
        &python,
        &folder,
        "correct horse",
        &phone,
        "encrypted full backup by pymobiledevice3",
    );
    let made = Made {
        password: Some("correct horse"),
        by_lifeboat: false,
    };
    damage_campaign(&folder, &phone, &made);
}

/// The phone's own errors reach the tool as `MBErrorDomain/N` (docs/backup.md §1.7): a
/// backup folder missing a file its manifest names (205), too little free space (105), a
/// passcode never entered (208).
#[test]
fn the_phone_refuses_with_its_error_codes() {
    let Some([idevicepair, idevicebackup2]) = peers(["idevicepair", "idevicebackup2"]) else {
        return;
    };
    let phone = start(|b| b);
    assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let full = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&full), "Backup Successful");
    let file = &phone.fake.backup_files(None)[0];
    let id = file.file_id();
    std::fs::remove_file(backups.path().join(UDID).join(&id[..2]).join(&id)).expect("a blob to remove");
    let broken = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&broken), "MBErrorDomain/205");
    assert!(!said(&broken).contains("Backup Successful"));

    for (config, code) in [
        (
            BackupConfig {
                free_space_margin: u64::MAX / 4,
                ..BackupConfig::default()
            },
            "MBErrorDomain/105",
        ),
        (
            BackupConfig {
                passcode: PasscodePrompt::Never,
                passcode_timeout: Duration::from_secs(1),
                ..BackupConfig::default()
            },
            "MBErrorDomain/208",
        ),
    ] {
        let phone = Phone::start(presets::photos_only("17.5", 1), |c| c.backup(config));
        assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
        let backups = tempfile::tempdir().expect("tempdir");
        let dir = backups.path().to_str().expect("a UTF-8 path");
        let out = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
        assert_contains(&said(&out), code);
        assert!(!said(&out).contains("Backup Successful"), "{}", said(&out));
    }
}

/// The shared faults, placed in the backup bytes, end a run mid-upload with idevicebackup2's
/// own error, never a hang; the next run completes and reads back whole. The phone also
/// fails to read one file (a 0x0B block, as iOS 17 does for `backup_manifest.db`), which
/// does not stop a backup.
#[test]
fn faults_mid_upload_end_the_run_and_the_next_one_completes() {
    let Some([idevicepair, idevicebackup2]) = peers(["idevicepair", "idevicebackup2"]) else {
        return;
    };
    let Some(python) = reader() else { return };
    let phone = start(|b| BackupConfig { error_block: true, ..b });
    assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let folder = backups.path().join(UDID);

    for (name, faults) in [
        (
            "drop",
            fake_iphone::Faults {
                drop_after: Some(150_000),
                ..Default::default()
            },
        ),
        (
            "detach",
            fake_iphone::Faults {
                detach_after: Some(250_000),
                ..Default::default()
            },
        ),
    ] {
        assert!(phone.fake.arm(None, faults));
        let cut = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
        assert!(!cut.status.success(), "{name}: the run cannot succeed: {}", said(&cut));
        assert!(!said(&cut).contains("Backup Successful"), "{name}: {}", said(&cut));
        assert_eq!(phone.fake.faults_fired(None), vec![name]);
        phone.fake.attach(None);
    }
    let whole = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
    assert_success(&whole, "idevicebackup2 after the faults");
    assert_contains(&said(&whole), "Backup Successful");
    assert_reads_back(&python, &folder, &phone, "the backup after the faults");
}

/// Encrypted backups (docs/backup-encryption.md §7): the phone starts with a password, the
/// tools back it up without knowing it, pyiosbackup decrypts every file (HealthDomain too,
/// which only encrypted backups hold) and refuses a wrong password. `changepw` and
/// `encryption off|on` go through ChangePassword; a wrong old password is 207; a new keybag
/// makes the next backup a full one.
#[test]
fn encrypted_backups_decrypt_and_passwords_change() {
    let Some([idevicepair, idevicebackup2, ideviceinfo]) = peers(["idevicepair", "idevicebackup2", "ideviceinfo"])
    else {
        return;
    };
    let Some(python) = reader() else { return };
    let phone = start(|b| BackupConfig {
        password: Some("correct horse".into()),
        kdf_rounds: (1, 1),
        ..b
    });
    assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
    let will_encrypt = limd(
        &phone,
        &ideviceinfo,
        &["-q", "com.apple.mobile.backup", "-k", "WillEncrypt"],
    );
    assert_eq!(text(&will_encrypt.stdout).trim(), "true");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let folder = backups.path().join(UDID);
    let padded = |phone: &Phone| -> u64 {
        phone
            .fake
            .backup_files(None)
            .iter()
            .map(|f| 16 * (f.size / 16 + 1))
            .sum()
    };

    let full = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
    assert_contains(&said(&full), "Backup Successful");
    assert_eq!(
        phone.fake.backup_bytes_served(None),
        padded(&phone),
        "ciphertext of every file"
    );
    assert!(phone.fake.backup_files(None).iter().any(|f| f.domain == "HealthDomain"));
    assert_reads_back_with(&python, &folder, "correct horse", &phone, "encrypted full backup");
    let wrong = run(
        Command::new(&python)
            .args([
                "-c",
                "import sys; from pyiosbackup import Backup; Backup.from_path(sys.argv[1], 'wrong')",
            ])
            .arg(&folder),
        LIMIT,
    );
    assert!(!wrong.status.success(), "a wrong password must not open the backup");
    let made = Made {
        password: Some("correct horse"),
        by_lifeboat: false,
    };
    damage_campaign(&folder, &phone, &made);

    let before = phone.fake.backup_bytes_served(None);
    change_the_phone(&phone);
    let incremental = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&incremental), "Backup Successful");
    assert!(
        phone.fake.backup_bytes_served(None) - before < padded(&phone) / 4,
        "only what changed"
    );
    assert_reads_back_with(
        &python,
        &folder,
        "correct horse",
        &phone,
        "encrypted incremental backup",
    );

    let refused = limd(&phone, &idevicebackup2, &["-u", UDID, "changepw", "wrong", "new"]);
    assert_contains(&said(&refused), "MBErrorDomain/207");
    let changed = limd(
        &phone,
        &idevicebackup2,
        &["-u", UDID, "changepw", "correct horse", "battery staple"],
    );
    assert_success(&changed, "idevicebackup2 changepw");
    let before = phone.fake.backup_bytes_served(None);
    let after_change = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&after_change), "Backup Successful");
    assert_eq!(
        phone.fake.backup_bytes_served(None) - before,
        padded(&phone),
        "a new keybag: the whole phone again"
    );
    assert_reads_back_with(&python, &folder, "battery staple", &phone, "after the password changed");

    let health = phone.backup_file_ids("HealthDomain");
    let off = limd(
        &phone,
        &idevicebackup2,
        &["-u", UDID, "encryption", "off", "battery staple"],
    );
    assert_success(&off, "idevicebackup2 encryption off");
    let will_encrypt = limd(
        &phone,
        &ideviceinfo,
        &["-q", "com.apple.mobile.backup", "-k", "WillEncrypt"],
    );
    assert_eq!(text(&will_encrypt.stdout).trim(), "false");
    let plain = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", dir]);
    assert_contains(&said(&plain), "Backup Successful");
    assert!(!phone.fake.backup_files(None).iter().any(|f| f.domain == "HealthDomain"));
    assert_pyiosbackup_reads(&python, &folder, "", &phone, "plain again");
    // The full backup without encryption leaves the encrypted era's HealthDomain blobs
    // behind (the phone names no file it no longer backs up): verify reports them, and
    // nothing else, as orphans.
    let (code, report, _) = verify_json(&folder, &[], None);
    let orphans = findings(&report);
    assert_eq!(code, 1, "{report}");
    assert_eq!(orphans.len(), health.len(), "{report}");
    for (path, status) in &orphans {
        assert_eq!(status, "extra", "{report}");
        assert!(
            health.iter().any(|id| path.ends_with(id.as_str())),
            "{path} is a HealthDomain blob"
        );
    }
}

/// Each kind of damage to copies of a folder `idevicebackup2` made is found, with the right
/// finding and exit 1 (docs/backup.md §2.4); the folder itself verifies clean.
#[test]
fn damage_to_a_folder_idevicebackup2_made_is_found() {
    let Some([idevicepair, idevicebackup2]) = peers(["idevicepair", "idevicebackup2"]) else {
        return;
    };
    let phone = start(|b| b);
    assert_success(&limd(&phone, &idevicepair, &["pair"]), "idevicepair pair");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let full = limd(&phone, &idevicebackup2, &["-u", UDID, "backup", "--full", dir]);
    assert_contains(&said(&full), "Backup Successful");
    let folder = backups.path().join(UDID);
    let made = Made {
        password: None,
        by_lifeboat: false,
    };
    damage_campaign(&folder, &phone, &made);
}
