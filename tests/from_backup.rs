//! Reading device backups back (issue 17 items 4 and 5): `export-photos --from-backup` on a
//! plain and on an encrypted backup of the simulated phone gives the files, names, manifest
//! and SHA-256s that `export-photos` from the phone itself gives; `files --backup ... pull`
//! gives the bytes pyiosbackup and iphone-backup-decrypt extract, with the recorded times;
//! a wrong password is exit 1 and never printed; a hostile backup writes nothing outside
//! the destination.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use common::backup_folder::venv_python;
use common::*;
use fake_iphone::{BackupConfig, PhoneConfig};
use serde_json::Value as Json;
use transfer::manifest::Manifest;

const PASSWORD: &str = "correct horse battery";

/// A paired phone with the photos people keep (iCloud originals, Live pairs, edits, AAE
/// files, albums, shared albums, a burst) and a few files in the other domains; its backups
/// are encrypted with [`PASSWORD`] when `encrypted`.
fn start(encrypted: bool) -> Phone {
    Phone::paired(presets::kept("17.5"), |c: PhoneConfig| {
        c.name("Ada's iPhone").backup(BackupConfig {
            files: 12,
            bytes: 300_000,
            seed: 17,
            password: encrypted.then(|| PASSWORD.to_string()),
            kdf_rounds: (1, 1),
            ..BackupConfig::default()
        })
    })
}

fn said(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

/// `lifeboat backup` of the phone into `root/backups`; the backup folder.
fn make_backup(phone: &Phone, root: &Path) -> PathBuf {
    let dest = root.join("backups");
    let out = phone.lifeboat(&["backup", dest.to_str().unwrap()]);
    assert_success(&out, "lifeboat backup");
    dest.join(UDID)
}

/// lifeboat with no phone at all, an isolated home and `env` set.
fn offline(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env_remove("LIFEBOAT_BACKUP_PASSWORD");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args);
    run(&mut cmd, Duration::from_secs(120))
}

fn password_file(root: &Path, password: &str) -> PathBuf {
    let path = root.join(format!("pw-{}", password.len()));
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path
}

/// The manifest's rows, without the device times (nanoseconds from the phone, seconds in
/// a backup's records).
fn rows(dest: &Path) -> Vec<(String, String, String, String, String, u64)> {
    let mut rows: Vec<_> = Manifest::open(dest)
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .map(|r| (r.dest_path, r.asset_id, r.role, r.device_path, r.sha256, r.size))
        .collect();
    rows.sort();
    rows
}

/// Every folder's SHA256SUMS, by folder.
fn sums(dest: &Path) -> BTreeMap<String, String> {
    tree::export_dirs(dest)
        .into_iter()
        .filter(|d| d.join("SHA256SUMS").is_file())
        .map(|d| {
            (
                tree::rel(dest, &d),
                std::fs::read_to_string(d.join("SHA256SUMS")).unwrap(),
            )
        })
        .collect()
}

/// The export from the backup is the export from the phone: the same files under the same
/// names with the same bytes, the same manifest rows and SHA256SUMS, and it verifies.
fn assert_same_export(from_phone: &Path, from_backup: &Path, home: &Home, what: &str) {
    let want = tree::exported_hashes(from_phone);
    assert!(want.len() > 10, "the phone's export is too small to compare: {want:?}");
    assert_eq!(
        tree::exported_hashes(from_backup),
        want,
        "{what}: files, names or bytes differ"
    );
    assert_eq!(rows(from_backup), rows(from_phone), "{what}: manifest rows differ");
    assert_eq!(sums(from_backup), sums(from_phone), "{what}: SHA256SUMS differ");
    assert!(manifest_rows_have_files(from_backup, what) > 10);
    sha256sum_check(from_backup, what);
    let verify = offline(home, &["verify", from_backup.to_str().unwrap()], &[]);
    assert_success(&verify, &format!("{what}: lifeboat verify"));
}

fn export_args<'a>(backup: &'a Path, dest: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "export-photos",
        "--from-backup",
        backup.to_str().unwrap(),
        dest.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    args
}

fn summary(out: &Output) -> Json {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JSON summary: {e}\n{}", said(out)))
}

#[test]
fn export_from_a_plain_backup_is_the_export_from_the_phone() {
    let phone = start(false);
    let root = tempfile::tempdir().unwrap();
    let from_phone = root.path().join("from-phone");
    assert_success(
        &phone.lifeboat(&["export-photos", from_phone.to_str().unwrap()]),
        "export-photos from the phone",
    );
    let backup = make_backup(&phone, root.path());
    let from_backup = root.path().join("from-backup");

    // From the folder of backups too: it holds just this one.
    let out = offline(
        &phone.home,
        &export_args(&root.path().join("backups"), &from_backup, &[]),
        &[],
    );
    assert_success(&out, "export-photos --from-backup");
    let first = summary(&out);
    assert_eq!(first["source"], "Photos.sqlite", "{first}");
    assert_same_export(&from_phone, &from_backup, &phone.home, "plain backup");

    // A second run reads nothing new.
    let again = offline(&phone.home, &export_args(&backup, &from_backup, &[]), &[]);
    assert_success(&again, "export-photos --from-backup again");
    assert_eq!(summary(&again)["copied"], 0, "{}", said(&again));

    // The phone, exporting into the folder the backup filled, adds no second copy.
    let then = phone.lifeboat(&["export-photos", from_backup.to_str().unwrap(), "--json"]);
    assert_success(&then, "export-photos from the phone after the backup's");
    assert_eq!(tree::exported_hashes(&from_backup), tree::exported_hashes(&from_phone));
    assert!(manifest_rows_have_files(&from_backup, "phone after backup") > 10);
    assert_success(
        &offline(&phone.home, &["verify", from_backup.to_str().unwrap()], &[]),
        "verify after the phone's export",
    );

    // Layouts and sidecars work as from the phone.
    let album_phone = root.path().join("album-phone");
    let album_backup = root.path().join("album-backup");
    let extra = ["--layout", "album", "--sidecar", "xmp"];
    let mut args = vec!["export-photos", album_phone.to_str().unwrap()];
    args.extend_from_slice(&extra);
    assert_success(&phone.lifeboat(&args), "export-photos --layout album from the phone");
    assert_success(
        &offline(&phone.home, &export_args(&backup, &album_backup, &extra), &[]),
        "export-photos --from-backup --layout album",
    );
    assert_same_export(&album_phone, &album_backup, &phone.home, "album layout");
}

#[test]
fn export_from_an_encrypted_backup_is_the_export_from_the_phone() {
    let phone = start(true);
    let root = tempfile::tempdir().unwrap();
    let from_phone = root.path().join("from-phone");
    assert_success(
        &phone.lifeboat(&["export-photos", from_phone.to_str().unwrap()]),
        "export-photos from the phone",
    );
    let backup = make_backup(&phone, root.path());
    assert!(
        !std::fs::read(backup.join("Manifest.db"))
            .unwrap()
            .starts_with(b"SQLite format 3"),
        "the backup is not encrypted"
    );

    // No password, and no terminal to ask at: refused, nothing exported.
    let refused_dest = root.path().join("no-password");
    let refused = offline(&phone.home, &export_args(&backup, &refused_dest, &[]), &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", said(&refused));
    assert_contains(&said(&refused), "encrypted");
    assert!(!refused_dest.exists(), "the destination was made for nothing");

    // A wrong password: exit 1, said clearly, never printed.
    let wrong = "wrong horse";
    let wrong_dest = root.path().join("wrong");
    let wrong_file = password_file(root.path(), wrong);
    let out = offline(
        &phone.home,
        &export_args(&backup, &wrong_dest, &["--password-file", wrong_file.to_str().unwrap()]),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert_contains(&said(&out), "the backup password is wrong");
    assert!(!said(&out).contains(wrong), "the password was printed");
    assert!(!wrong_dest.exists(), "the destination was made for nothing");

    let from_backup = root.path().join("from-backup");
    let pw = password_file(root.path(), PASSWORD);
    let out = offline(
        &phone.home,
        &export_args(&backup, &from_backup, &["--password-file", pw.to_str().unwrap()]),
        &[],
    );
    assert_success(&out, "export-photos --from-backup (encrypted)");
    assert!(!said(&out).contains(PASSWORD), "the password was printed");
    assert_same_export(&from_phone, &from_backup, &phone.home, "encrypted backup");
    // Nothing lifeboat wrote holds the password.
    for file in tree::files(&from_backup) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "{} holds the password",
            file.display()
        );
    }

    // The password from the environment works the same.
    let from_env = root.path().join("from-env");
    let out = offline(
        &phone.home,
        &export_args(&backup, &from_env, &[]),
        &[("LIFEBOAT_BACKUP_PASSWORD", PASSWORD)],
    );
    assert_success(&out, "export-photos --from-backup with the password in the environment");
    assert_eq!(tree::exported_hashes(&from_env), tree::exported_hashes(&from_phone));
}

/// Each file's SHA-256 as pyiosbackup extracts it and, for an encrypted backup, as
/// iphone-backup-decrypt does, by `domain/path`.
const EXTRACT: &str = r#"
import hashlib, json, sys
from pyiosbackup import Backup
request = json.loads(sys.argv[1])
out = {"pyiosbackup": {}, "iphone_backup_decrypt": {}}
backup = Backup.from_path(request["dir"], request["password"])
for domain, path in request["files"]:
    data = backup.get_entry_by_domain_and_path(domain, path).read_bytes()
    out["pyiosbackup"][domain + "/" + path] = hashlib.sha256(data).hexdigest()
if request["password"]:
    from iphone_backup_decrypt import EncryptedBackup
    ibd = EncryptedBackup(backup_directory=request["dir"], passphrase=request["password"])
    for domain, path in request["files"]:
        data = ibd.extract_file_as_bytes(path, domain_like=domain)
        out["iphone_backup_decrypt"][domain + "/" + path] = hashlib.sha256(data).hexdigest()
print(json.dumps(out))
"#;

/// `files --backup B pull / DEST` gives every file of the phone under `DEST/domain/path`,
/// with the bytes the independent readers extract and the recorded modification time.
fn pull_matches_the_readers(encrypted: bool) {
    let Some(python) = venv_python() else { return };
    let phone = start(encrypted);
    let root = tempfile::tempdir().unwrap();
    let backup = make_backup(&phone, root.path());
    let password = if encrypted { PASSWORD } else { "" };
    let env: &[(&str, &str)] = if encrypted {
        &[("LIFEBOAT_BACKUP_PASSWORD", PASSWORD)]
    } else {
        &[]
    };
    let b = backup.to_str().unwrap();

    let top = offline(&phone.home, &["files", "--backup", b, "ls", "/"], env);
    assert_success(&top, "files --backup ls /");
    for domain in ["CameraRollDomain", "HomeDomain"] {
        assert!(text(&top.stdout).lines().any(|l| l == domain), "{}", said(&top));
    }
    let dcim = offline(
        &phone.home,
        &["files", "--backup", b, "ls", "-l", "CameraRollDomain/Media/DCIM"],
        env,
    );
    assert_success(&dcim, "files --backup ls -l");
    assert_contains(&text(&dcim.stdout), "d ");

    let dest = root.path().join("pulled");
    std::fs::create_dir(&dest).unwrap();
    let out = offline(
        &phone.home,
        &["files", "--backup", b, "pull", "/", dest.to_str().unwrap()],
        env,
    );
    assert_success(&out, "files --backup pull /");
    assert!(!said(&out).contains(PASSWORD), "the password was printed");

    let files = phone.fake.backup_files(None);
    assert!(files.iter().any(|f| f.domain == "CameraRollDomain") && files.len() > 20);
    let request = serde_json::json!({
        "dir": backup,
        "password": password,
        "files": files.iter().map(|f| [&f.domain, &f.path]).collect::<Vec<_>>(),
    });
    let read = run(
        Command::new(&python).arg("-c").arg(EXTRACT).arg(request.to_string()),
        Duration::from_secs(300),
    );
    assert_success(&read, "the python backup readers");
    let readers: Json = serde_json::from_slice(&read.stdout).unwrap();
    let names: &[&str] = if encrypted {
        &["pyiosbackup", "iphone_backup_decrypt"]
    } else {
        &["pyiosbackup"]
    };
    for f in &files {
        let key = format!("{}/{}", f.domain, f.path);
        let pulled = dest.join(&f.domain).join(&f.path);
        let got = sha_file(&pulled);
        for reader in names {
            assert_eq!(
                readers[reader][&key].as_str(),
                Some(got.as_str()),
                "{reader} extracts {key} differently"
            );
        }
        assert_eq!(got, sha(&f.read().unwrap()), "{key} is not the phone's");
        let mtime = std::fs::metadata(&pulled).unwrap().modified().unwrap();
        assert_eq!(
            mtime.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64,
            f.modified,
            "{key} has not its recorded time"
        );
    }
    assert!(
        tree::files(&dest)
            .iter()
            .all(|p| !transfer::fs::is_temporary(p.file_name().unwrap_or_default())),
        "a temporary file was left"
    );

    // One file, by its path, into a file name of its own.
    let one = &files.iter().find(|f| f.domain == "HomeDomain").unwrap();
    let single = root.path().join("single");
    let out = offline(
        &phone.home,
        &[
            "files",
            "--backup",
            b,
            "pull",
            &format!("{}/{}", one.domain, one.path),
            single.to_str().unwrap(),
        ],
        env,
    );
    assert_success(&out, "files --backup pull FILE");
    assert_eq!(sha_file(&single), sha(&one.read().unwrap()));
}

#[test]
fn pull_from_a_plain_backup_gives_the_bytes_pyiosbackup_extracts() {
    pull_matches_the_readers(false);
}

#[test]
fn pull_from_an_encrypted_backup_gives_the_bytes_both_readers_extract() {
    pull_matches_the_readers(true);
}

#[test]
fn a_wrong_password_for_files_is_exit_1_and_never_printed() {
    let phone = start(true);
    let root = tempfile::tempdir().unwrap();
    let backup = make_backup(&phone, root.path());
    let wrong = "not the password";
    let out = offline(
        &phone.home,
        &["files", "--backup", backup.to_str().unwrap(), "ls", "/"],
        &[("LIFEBOAT_BACKUP_PASSWORD", wrong)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert_contains(&said(&out), "the backup password is wrong");
    assert!(!said(&out).contains(wrong), "the password was printed");
}

/// A backup whose Manifest.db names paths with `..`, absolute paths, a domain `..`, a
/// symlink record, and a blob that is a symlink to a file outside the backup: pulling all of
/// it writes nothing outside the destination, follows no link, and reports what it skipped.
#[test]
fn a_hostile_backup_writes_nothing_outside_the_destination() {
    use transfer::finder::layout::{blob_path, file_id};
    use transfer::finder::mbfile::{MbFile, encode};
    let phone = start(false);
    let root = tempfile::tempdir().unwrap();
    let backup = make_backup(&phone, root.path());
    let secret = root.path().join("secret.txt");
    std::fs::write(&secret, "a secret outside the backup").unwrap();
    let db = rusqlite::Connection::open(backup.join("Manifest.db")).unwrap();
    let add = |domain: &str, path: &str, flags: i64, content: Option<&[u8]>, target: Option<&str>| {
        let id = file_id(domain, path);
        let record = MbFile {
            relative_path: Some(path.into()),
            mode: Some(if flags == 4 { 0o120644 } else { 0o100644 }),
            size: Some(content.map_or(0, |c| c.len() as u64)),
            last_modified: Some(1_700_000_000),
            target: target.map(Into::into),
            ..MbFile::default()
        };
        db.execute(
            "INSERT INTO Files (fileID, domain, relativePath, flags, file) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![id, domain, path, flags, encode(&record)],
        )
        .unwrap();
        let blob = backup.join(blob_path(&id).unwrap());
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        match content {
            Some(bytes) => std::fs::write(&blob, bytes).unwrap(),
            None if flags == 1 => std::os::unix::fs::symlink(&secret, &blob).unwrap(),
            None => {}
        }
    };
    add("HomeDomain", "../../../escape.txt", 1, Some(b"escaped"), None);
    add(
        "HomeDomain",
        "/tmp/lifeboat-absolute-escape.txt",
        1,
        Some(b"escaped"),
        None,
    );
    add("..", "escape.txt", 1, Some(b"escaped"), None);
    add("HomeDomain", "Library/linked.txt", 1, None, None);
    add("HomeDomain", "Library/sym", 4, None, Some("/etc"));
    drop(db);

    let dest = root.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    let out = offline(
        &phone.home,
        &[
            "files",
            "--backup",
            backup.to_str().unwrap(),
            "pull",
            "/",
            dest.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert_contains(&said(&out), "skipped");
    assert_contains(&said(&out), "Library/linked.txt");
    assert!(!Path::new("/tmp/lifeboat-absolute-escape.txt").exists());
    let mut top: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["backups", "out", "secret.txt"]);
    for file in tree::files(&dest) {
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.is_file(), "{} is not a regular file", file.display());
        let bytes = std::fs::read(&file).unwrap();
        assert_ne!(bytes, b"escaped", "{} came from a hostile row", file.display());
        assert_ne!(
            bytes,
            b"a secret outside the backup",
            "{} followed a link",
            file.display()
        );
    }
    // The rest of the backup came out whole.
    for f in phone.fake.backup_files(None) {
        assert_eq!(
            sha_file(&dest.join(&f.domain).join(&f.path)),
            sha(&f.read().unwrap()),
            "{}/{}",
            f.domain,
            f.path
        );
    }
}

/// A backup another tool made: idevicebackup2's encrypted backup of the same phone exports
/// the same photos.
#[test]
fn export_from_an_idevicebackup2_backup_is_the_export_from_the_phone() {
    let Some([idevicepair, idevicebackup2]) = peers(["idevicepair", "idevicebackup2"]) else {
        return;
    };
    let phone = start(true);
    let limd = |program: &Path, args: &[&str]| {
        let mut cmd = Command::new(program);
        phone.home.apply(&mut cmd);
        cmd.env("USBMUXD_SOCKET_ADDRESS", phone.fake.usbmux_address())
            .args(args);
        run(&mut cmd, Duration::from_secs(300))
    };
    assert_success(&limd(&idevicepair, &["pair"]), "idevicepair pair");
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("limd");
    std::fs::create_dir(&backups).unwrap();
    assert_success(
        &limd(
            &idevicebackup2,
            &["-u", UDID, "backup", "--full", backups.to_str().unwrap()],
        ),
        "idevicebackup2 backup --full",
    );
    let from_phone = root.path().join("from-phone");
    assert_success(
        &phone.lifeboat(&["export-photos", from_phone.to_str().unwrap()]),
        "export-photos from the phone",
    );
    let from_backup = root.path().join("from-backup");
    let out = offline(
        &phone.home,
        &export_args(&backups.join(UDID), &from_backup, &[]),
        &[("LIFEBOAT_BACKUP_PASSWORD", PASSWORD)],
    );
    assert_success(&out, "export-photos --from-backup (idevicebackup2's)");
    assert_same_export(&from_phone, &from_backup, &phone.home, "idevicebackup2's backup");
}

/// pymobiledevice3's plain backup of the same phone exports the same photos.
#[test]
fn export_from_a_pymobiledevice3_backup_is_the_export_from_the_phone() {
    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    let phone = start(false);
    let address = phone.fake.usbmux_address();
    let pmd3 = |args: &[&str]| {
        let mut cmd = Command::new(&program);
        phone.home.apply(&mut cmd);
        cmd.env("USBMUXD_SOCKET_ADDRESS", &address).args(args);
        run(&mut cmd, Duration::from_secs(300))
    };
    assert_success(&pmd3(&["lockdown", "pair"]), "pymobiledevice3 lockdown pair");
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("pmd3");
    std::fs::create_dir(&backups).unwrap();
    assert_success(
        &pmd3(&[
            "backup2",
            "backup",
            "--usbmux",
            &address,
            "--full",
            backups.to_str().unwrap(),
        ]),
        "pymobiledevice3 backup2 backup --full",
    );
    let from_phone = root.path().join("from-phone");
    assert_success(
        &phone.lifeboat(&["export-photos", from_phone.to_str().unwrap()]),
        "export-photos from the phone",
    );
    let from_backup = root.path().join("from-backup");
    let out = offline(&phone.home, &export_args(&backups.join(UDID), &from_backup, &[]), &[]);
    assert_success(&out, "export-photos --from-backup (pymobiledevice3's)");
    assert_same_export(&from_phone, &from_backup, &phone.home, "pymobiledevice3's backup");
}

/// Peak resident memory of a finished child: `VmHWM` from /proc, read until it exits.
#[cfg(target_os = "linux")]
fn peak_rss_kb(cmd: &mut Command) -> (Output, u64) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    (Output { status, stdout, stderr }, peak)
}

/// A video far larger than lifeboat's buffers comes out of an encrypted backup without
/// ever being held whole: decryption streams.
#[cfg(target_os = "linux")]
#[test]
fn a_large_encrypted_video_streams_through_bounded_memory() {
    const VIDEO: usize = 128 << 20;
    let spec = fake_iphone::library::LibrarySpec {
        videos: 1,
        video_padding: VIDEO,
        ..presets::photos_only("17.5", 2)
    };
    let phone = Phone::paired(spec, |c: PhoneConfig| {
        c.backup(BackupConfig {
            files: 2,
            bytes: 10_000,
            password: Some(PASSWORD.into()),
            kdf_rounds: (1, 1),
            ..BackupConfig::default()
        })
    });
    let root = tempfile::tempdir().unwrap();
    let backup = make_backup(&phone, root.path());
    let dest = root.path().join("photos");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    phone.home.apply(&mut cmd);
    cmd.env("LIFEBOAT_BACKUP_PASSWORD", PASSWORD)
        .args(export_args(&backup, &dest, &[]));
    let (out, peak_kb) = peak_rss_kb(&mut cmd);
    assert_success(&out, "export-photos --from-backup of a large video");
    let video = phone
        .assets
        .iter()
        .find(|a| a.kind == fake_iphone::library::AssetKind::Video)
        .unwrap();
    let want = sha_file(&phone.media().join(&video.original));
    assert!(
        tree::exported_hashes(&dest).values().any(|h| *h == want),
        "the video did not come out whole"
    );
    eprintln!("peak RSS exporting a {} MiB video: {} MiB", VIDEO >> 20, peak_kb >> 10);
    assert!(
        peak_kb < (VIDEO as u64 >> 10) / 2,
        "peak RSS {peak_kb} kB for a {} MiB video: something holds the file",
        VIDEO >> 20
    );
}
