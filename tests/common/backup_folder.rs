//! Device backup folders in tests: `lifeboat verify --json` of one, its findings, and fresh
//! copies to damage. Shared by the tests of folders lifeboat's test writer, the peers
//! (idevicebackup2, pymobiledevice3) and lifeboat itself make.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value as Json;

use super::{peer, run, text};

/// lifeboat with an empty home, the backup password (if any) in its environment.
pub fn lifeboat(args: &[&str], password: Option<&str>) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join(".local/share"))
        .env_remove("LIFEBOAT_BACKUP_PASSWORD")
        .args(args);
    if let Some(password) = password {
        cmd.env("LIFEBOAT_BACKUP_PASSWORD", password);
    }
    run(&mut cmd, Duration::from_secs(120))
}

/// `verify --json` of `dir`: the exit code, the one backup's report, and standard error.
pub fn verify_json(dir: &Path, extra: &[&str], password: Option<&str>) -> (i32, Json, String) {
    let mut args = vec!["verify", "--json"];
    args.extend_from_slice(extra);
    let dir = dir.to_str().unwrap();
    args.push(dir);
    let out = lifeboat(&args, password);
    let stdout = text(&out.stdout);
    let json: Json = serde_json::from_str(&stdout).unwrap_or(Json::Null);
    let report = json["backups"][0].clone();
    (out.status.code().unwrap_or(-1), report, text(&out.stderr))
}

/// The findings of a report as (path, status) pairs.
pub fn findings(report: &Json) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report}"))
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Asserts `dir` verifies with exactly the findings `want` (and exit 1, or 0 when none).
pub fn expect_findings(dir: &Path, extra: &[&str], password: Option<&str>, want: &[(&str, &str)]) -> Json {
    let (code, report, stderr) = verify_json(dir, extra, password);
    let want: Vec<(String, String)> = want.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    assert_eq!(findings(&report), want, "{report}\n{stderr}");
    assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{report}\n{stderr}");
    report
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fresh copy of `backup` to damage, in its own root, under its own UDID folder name; with
/// lifeboat's record of it (`../.lifeboat/<UDID>`, the SHA-256s taken as it arrived) when
/// lifeboat made it.
pub fn damaged_copy(backup: &Path) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let name = backup.file_name().unwrap();
    let copy = root.path().join(name);
    copy_tree(backup, &copy);
    if let Some(own) = backup.parent().map(|p| p.join(".lifeboat").join(name))
        && own.is_dir()
    {
        copy_tree(&own, &root.path().join(".lifeboat").join(name));
    }
    (root, copy)
}

/// Who made a backup folder, as the damage campaign needs to know it.
pub struct Made<'a> {
    /// The backup password, for an encrypted backup.
    pub password: Option<&'a str>,
    /// lifeboat made it, so every blob has a SHA-256 recorded as it arrived.
    pub by_lifeboat: bool,
}

/// The damage campaign of issue 17 on fresh copies of `folder` (a `<UDID>` backup folder of
/// `phone`): the folder verifies clean with and without `--deep`; a deleted, a truncated and
/// an orphan blob, a flipped byte in one of the phone's JPEG photos, a corrupt Manifest.db
/// page, an empty Manifest.plist, a leftover `Snapshot/`, a Status left at "moving" and (when
/// encrypted) a wrong password are each reported with their finding and exit 1.
pub fn damage_campaign(folder: &Path, phone: &super::Phone, made: &Made) {
    let password = made.password;
    let expect = |dir: &Path, extra: &[&str], want: &[(&str, &str)]| expect_findings(dir, extra, password, want);
    let (domain, path) = &a_jpeg(phone);
    let jpeg_finding = format!("{domain}/{path}");
    let blob = |dir: &Path| {
        let id = transfer::finder::layout::file_id(domain, path);
        dir.join(transfer::finder::layout::blob_path(&id).unwrap())
    };
    let what = |damage: &str| format!("{damage} in {}", folder.display());

    // No false positives.
    expect(folder, &[], &[]);
    expect(folder, &["--deep"], &[]);

    // A deleted blob, a truncated blob, an orphan blob.
    let (_keep, copy) = damaged_copy(folder);
    std::fs::remove_file(blob(&copy)).unwrap_or_else(|e| panic!("{}: {e}", what("the JPEG's blob")));
    expect(&copy, &[], &[(&jpeg_finding, "missing")]);

    let (_keep, copy) = damaged_copy(folder);
    let bytes = std::fs::read(blob(&copy)).unwrap();
    std::fs::write(blob(&copy), &bytes[..bytes.len() / 2]).unwrap();
    expect(&copy, &[], &[(&jpeg_finding, "size-changed")]);

    let (_keep, copy) = damaged_copy(folder);
    let orphan =
        transfer::finder::layout::blob_path(&transfer::finder::layout::file_id("HomeDomain", "gone.txt")).unwrap();
    std::fs::create_dir_all(copy.join(&orphan).parent().unwrap()).unwrap();
    std::fs::write(copy.join(&orphan), [7u8; 48]).unwrap();
    expect(&copy, &[], &[(&orphan, "extra")]);

    // A flipped byte keeps the size. lifeboat's recorded SHA-256 finds it without --deep;
    // otherwise --deep finds it by the JPEG's structure (in an encrypted blob, the first
    // block decrypts to noise: CBC has no MAC, so nothing short of --deep can see it).
    let (_keep, copy) = damaged_copy(folder);
    let mut bytes = std::fs::read(blob(&copy)).unwrap();
    bytes[1] ^= 0x01;
    std::fs::write(blob(&copy), &bytes).unwrap();
    if made.by_lifeboat {
        expect(&copy, &[], &[(&jpeg_finding, "corrupt")]);
        expect(&copy, &["--deep"], &[(&jpeg_finding, "corrupt")]);
    } else {
        expect(&copy, &[], &[]);
        expect(&copy, &["--deep"], &[(&jpeg_finding, "damaged")]);
    }

    // A corrupt Manifest.db page (in an encrypted backup, the page's ciphertext).
    let (_keep, copy) = damaged_copy(folder);
    let mut db = std::fs::read(copy.join("Manifest.db")).unwrap();
    let page = match password {
        None => u16::from_be_bytes([db[16], db[17]]) as usize,
        Some(_) => 4096,
    };
    assert!(
        db.len() > page + 64,
        "{}: Manifest.db has a second page",
        what("Manifest.db")
    );
    for b in &mut db[page + 8..page + 40] {
        *b ^= 0xFF;
    }
    std::fs::write(copy.join("Manifest.db"), &db).unwrap();
    let (code, report, stderr) = verify_json(&copy, &[], password);
    assert_eq!(code, 1, "{}: {report}\n{stderr}", what("a corrupt Manifest.db page"));
    assert!(
        findings(&report).contains(&("Manifest.db".into(), "damaged".into())),
        "{}: {report}",
        what("a corrupt Manifest.db page")
    );

    // An empty Manifest.plist: the cause of the phone's error 205.
    let (_keep, copy) = damaged_copy(folder);
    std::fs::write(copy.join("Manifest.plist"), b"").unwrap();
    let (code, report, stderr) = verify_json(&copy, &[], password);
    assert_eq!(code, 1, "{}: {report}\n{stderr}", what("an empty Manifest.plist"));
    let empty = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["path"] == "Manifest.plist"))
        .unwrap_or_else(|| panic!("{}: {report}", what("an empty Manifest.plist")));
    assert_eq!(empty["status"], "damaged", "{report}");
    super::assert_contains(&empty["detail"].to_string(), "error 205");

    // An interrupted backup: a leftover Snapshot/, a Status left at "moving".
    let (_keep, copy) = damaged_copy(folder);
    std::fs::create_dir_all(copy.join("Snapshot/00")).unwrap();
    expect(&copy, &[], &[("Snapshot/", "temporary")]);
    let (_keep, copy) = damaged_copy(folder);
    let mut status = plist::Value::from_file(copy.join("Status.plist")).unwrap();
    status
        .as_dictionary_mut()
        .unwrap()
        .insert("SnapshotState".into(), plist::Value::String("moving".into()));
    status.to_file_xml(copy.join("Status.plist")).unwrap();
    let report = expect(&copy, &[], &[("Status.plist", "damaged")]);
    super::assert_contains(&report["findings"][0]["detail"].to_string(), "moving");

    // A wrong password: a clear message and exit 1, the password never printed.
    if password.is_some() {
        let (code, report, stderr) = verify_json(folder, &[], Some("not the password"));
        assert_eq!(code, 1, "{}: {report}\n{stderr}", what("a wrong password"));
        super::assert_contains(&stderr, "the backup password is wrong");
        assert!(
            !stderr.contains("not the password") && !report.to_string().contains("not the password"),
            "the password is never printed"
        );
    }
}

/// The python in .ci/venv, with the two independent readers installed; `None` (skipped)
/// outside CI when it is missing.
pub fn venv_python() -> Option<PathBuf> {
    let python = peer("python3")
        .map(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python3"))
        .filter(|p| p.is_file());
    let ok = python.as_ref().is_some_and(|p| {
        run(
            Command::new(p).args(["-c", "import pyiosbackup, iphone_backup_decrypt"]),
            Duration::from_secs(60),
        )
        .status
        .success()
    });
    if ok {
        return python;
    }
    if std::env::var_os("LIFEBOAT_REQUIRE_PEERS").is_some() {
        panic!("pyiosbackup and iphone-backup-decrypt are required in .ci/venv (installed by .ci/run)");
    }
    eprintln!("skipping: pyiosbackup / iphone-backup-decrypt are not in .ci/venv (run .ci/run)");
    None
}

/// The (domain, relativePath) of a JPEG photo the simulated phone backs up.
fn a_jpeg(phone: &super::Phone) -> (String, String) {
    phone
        .fake
        .backup_files(None)
        .into_iter()
        .find(|f| f.domain == "CameraRollDomain" && f.path.ends_with(".JPG"))
        .map(|f| (f.domain, f.path))
        .expect("the phone has a JPEG photo")
}
