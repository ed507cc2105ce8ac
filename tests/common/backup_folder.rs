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

/// A fresh copy of `backup` to damage, in its own root, under its own UDID folder name.
pub fn damaged_copy(backup: &Path) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let copy = root.path().join(backup.file_name().unwrap());
    copy_tree(backup, &copy);
    (root, copy)
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
