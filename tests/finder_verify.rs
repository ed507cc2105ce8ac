//! Reading Finder/iTunes device backups (issue 17 items 1–3): a small writer makes plain and
//! encrypted backup folders (docs/backup-encryption.md §7), the independent readers
//! pyiosbackup and iphone-backup-decrypt read the same bytes back from them (so the writer
//! is right), lifeboat verifies them clean, and each kind of damage is found with the right
//! finding and exit code. `lifeboat backups` lists them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::backup_folder::{damaged_copy, findings, lifeboat, venv_python, verify_json};
use common::{Rng, assert_contains, run, sha, text};
use plist::{Dictionary, Value};
use serde_json::Value as Json;
use transfer::finder::crypto::{self, Key};
use transfer::finder::keybag::{self, Keybag, WrappedClass};
use transfer::finder::layout;
use transfer::finder::mbfile::{self, MbFile};

const PASSWORD: &str = "correct horse battery";
const UDID_PLAIN: &str = "00008110-001A2B3C4D5E6F70";
const UDID_ENC: &str = "00008030-000A1B2C3D4E5F60";
const JPEG_PATH: &str = "Media/DCIM/100APPLE/IMG_0001.JPG";

/// A file the test backup holds.
struct TestFile {
    domain: &'static str,
    path: &'static str,
    bytes: Vec<u8>,
}

fn sqlite_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); \
         INSERT INTO notes (body) VALUES ('one'), ('two'), ('three');",
    )
    .unwrap();
    drop(conn);
    std::fs::read(&path).unwrap()
}

fn plist_bytes() -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("AppleLanguages".into(), Value::Array(vec![Value::String("en".into())]));
    let mut out = Vec::new();
    Value::Dictionary(d).to_writer_binary(&mut out).unwrap();
    out
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

fn files() -> Vec<TestFile> {
    vec![
        TestFile {
            domain: "CameraRollDomain",
            path: JPEG_PATH,
            bytes: fixture("IMG_0001.JPG"),
        },
        TestFile {
            domain: "CameraRollDomain",
            path: "Media/DCIM/100APPLE/IMG_0002.HEIC",
            bytes: fixture("IMG_0002.HEIC"),
        },
        TestFile {
            domain: "CameraRollDomain",
            path: "Media/DCIM/100APPLE/IMG_0003.PNG",
            bytes: fixture("IMG_0003.PNG"),
        },
        TestFile {
            domain: "HomeDomain",
            path: "Library/Notes/notes.sqlite",
            bytes: sqlite_bytes(),
        },
        TestFile {
            domain: "HomeDomain",
            path: "Library/Preferences/.GlobalPreferences.plist",
            bytes: plist_bytes(),
        },
        TestFile {
            domain: "HomeDomain",
            path: "Library/Logs/empty.log",
            bytes: Vec::new(),
        },
        TestFile {
            domain: "AppDomain-com.example.app",
            path: "Documents/readme.txt",
            bytes: b"Hello from a backed-up app.\n".to_vec(),
        },
    ]
}

fn date(unix: u64) -> Value {
    Value::Date((std::time::UNIX_EPOCH + Duration::from_secs(unix)).into())
}

fn write_plist(path: &Path, dict: Dictionary) {
    Value::Dictionary(dict).to_file_xml(path).unwrap();
}

fn dict(pairs: Vec<(&str, Value)>) -> Dictionary {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn key32(rng: &mut Rng) -> Key {
    let mut k = [0u8; 32];
    for b in &mut k {
        *b = rng.next() as u8;
    }
    Key::from_bytes(k)
}

/// The keys an encrypted test backup is made with (§7 steps 1–3; tiny KDF counts).
struct Keys {
    bag: Vec<u8>,
    classes: Vec<Key>,
}

fn make_keys(rng: &mut Rng, password: &str) -> Keys {
    let salt = |rng: &mut Rng| (0..20).map(|_| rng.next() as u8).collect::<Vec<u8>>();
    let mut bag = Keybag {
        version: 5,
        kind: 1,
        uuid: salt(rng)[..16].to_vec(),
        wrap: 0,
        salt: salt(rng),
        iterations: 1,
        dp_salt: Some(salt(rng)),
        dp_iterations: Some(1),
        classes: Default::default(),
    };
    let pass_key = bag.derive(&keybag::Password::new(password.into())).unwrap();
    let mut classes = vec![Key::from_bytes([0; 32])];
    for class in 1..=11u32 {
        let class_key = key32(rng);
        bag.classes.insert(
            class,
            WrappedClass {
                class,
                wrap: if class == 5 || class >= 9 { 3 } else { 2 },
                key_type: 0,
                wrapped: crypto::wrap_key(&pass_key, &class_key).to_vec(),
            },
        );
        classes.push(class_key);
    }
    Keys {
        bag: keybag::encode(&bag),
        classes,
    }
}

/// Writes a finished backup of `files` at `root/udid` (docs/backup.md §2,
/// docs/backup-encryption.md §7); encrypted with `password` if given.
fn write_backup(root: &Path, udid: &str, files: &[TestFile], password: Option<&str>) -> PathBuf {
    let dir = root.join(udid);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x5eed ^ udid.len() as u64 ^ password.map_or(0, |p| p.len() as u64));
    let keys = password.map(|p| make_keys(&mut rng, p));
    let db_dir = tempfile::tempdir().unwrap();
    let db_path = db_dir.path().join("Manifest.db");
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.execute_batch(
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
         CREATE INDEX FilesDomainIdx ON Files(domain);
         CREATE INDEX FilesRelativePathIdx ON Files(relativePath);
         CREATE INDEX FilesFlagsIdx ON Files(flags);
         CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);",
    )
    .unwrap();
    let mut inode = 1000u64;
    let insert = |domain: &str, path: &str, flags: i64, file: &MbFile| {
        let id = layout::file_id(domain, path);
        conn.execute(
            "INSERT OR IGNORE INTO Files VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![id, domain, path, flags, mbfile::encode(file)],
        )
        .unwrap();
        id
    };
    for f in files {
        // The folders above the file, from the domain's root ("") down.
        let parts: Vec<&str> = f.path.split('/').collect();
        for depth in 0..parts.len() {
            let parent = parts[..depth].join("/");
            inode += 1;
            let folder = MbFile {
                relative_path: Some(parent.clone()),
                mode: Some(0o40755),
                inode: Some(inode),
                user_id: Some(501),
                group_id: Some(501),
                last_modified: Some(1_700_000_000),
                last_status_change: Some(1_700_000_000),
                birth: Some(1_700_000_000),
                size: Some(0),
                protection_class: Some(0),
                flags: Some(0),
                ..Default::default()
            };
            insert(f.domain, &parent, 2, &folder);
        }
        inode += 1;
        let mut record = MbFile {
            relative_path: Some(f.path.into()),
            mode: Some(0o100644),
            inode: Some(inode),
            user_id: Some(501),
            group_id: Some(501),
            last_modified: Some(1_700_000_100),
            last_status_change: Some(1_700_000_100),
            birth: Some(1_700_000_100),
            size: Some(f.bytes.len() as u64),
            protection_class: Some(3),
            flags: Some(0),
            ..Default::default()
        };
        let stored = match &keys {
            Some(keys) => {
                let file_key = key32(&mut rng);
                let mut wrapped = 3u32.to_le_bytes().to_vec();
                wrapped.extend_from_slice(&crypto::wrap_key(&keys.classes[3], &file_key));
                record.encryption_key = Some(wrapped);
                crypto::encrypt(&file_key, &f.bytes)
            }
            None => f.bytes.clone(),
        };
        let id = insert(f.domain, f.path, 1, &record);
        let blob = dir.join(layout::blob_path(&id).unwrap());
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(blob, stored).unwrap();
    }
    drop(conn);
    let db = std::fs::read(&db_path).unwrap();
    let mut manifest = dict(vec![
        ("IsEncrypted", Value::Boolean(keys.is_some())),
        ("WasPasscodeSet", Value::Boolean(true)),
        ("Version", Value::String("10.0".into())),
        ("Date", date(1_700_000_200)),
        ("Applications", Value::Dictionary(Dictionary::new())),
        (
            "Lockdown",
            Value::Dictionary(dict(vec![
                ("ProductVersion", Value::String("17.5".into())),
                ("ProductType", Value::String("iPhone15,2".into())),
                ("BuildVersion", Value::String("21F79".into())),
                ("UniqueDeviceID", Value::String(udid.into())),
                ("SerialNumber", Value::String("F2LXXXXXXXXX".into())),
                ("DeviceName", Value::String("Ada's iPhone".into())),
            ])),
        ),
    ]);
    match &keys {
        Some(keys) => {
            let db_key = key32(&mut rng);
            let mut manifest_key = 4u32.to_le_bytes().to_vec();
            manifest_key.extend_from_slice(&crypto::wrap_key(&keys.classes[4], &db_key));
            std::fs::write(dir.join("Manifest.db"), crypto::encrypt(&db_key, &db)).unwrap();
            manifest.insert("BackupKeyBag".into(), Value::Data(keys.bag.clone()));
            manifest.insert("ManifestKey".into(), Value::Data(manifest_key));
        }
        None => std::fs::write(dir.join("Manifest.db"), &db).unwrap(),
    }
    write_plist(&dir.join("Manifest.plist"), manifest);
    write_plist(
        &dir.join("Status.plist"),
        dict(vec![
            ("BackupState", Value::String("new".into())),
            ("Date", date(1_700_000_200)),
            ("IsFullBackup", Value::Boolean(true)),
            ("SnapshotState", Value::String("finished".into())),
            ("UUID", Value::String("6C1D5D59-2E9C-4E0B-9E0F-6B1C1E1C1E1C".into())),
            ("Version", Value::String("3.3".into())),
        ]),
    );
    write_plist(
        &dir.join("Info.plist"),
        dict(vec![
            ("Build Version", Value::String("21F79".into())),
            ("Device Name", Value::String("Ada's iPhone".into())),
            ("Display Name", Value::String("Ada's iPhone".into())),
            ("GUID", Value::String("0123456789ABCDEF0123456789ABCDEF".into())),
            ("IMEI", Value::String("350000000000000".into())),
            ("Last Backup Date", date(1_700_000_200)),
            ("Product Name", Value::String("iPhone 14 Pro".into())),
            ("Product Type", Value::String("iPhone15,2".into())),
            ("Product Version", Value::String("17.5".into())),
            ("Serial Number", Value::String("F2LXXXXXXXXX".into())),
            ("Target Identifier", Value::String(udid.into())),
            ("Target Type", Value::String("Device".into())),
            ("Unique Identifier", Value::String(udid.to_uppercase())),
            ("iTunes Version", Value::String("12.13".into())),
        ]),
    );
    dir
}

fn blob_of(dir: &Path, domain: &str, path: &str) -> PathBuf {
    dir.join(layout::blob_path(&layout::file_id(domain, path)).unwrap())
}

const READERS: &str = r#"
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
    ibd.test_decryption()
    for domain, path in request["files"]:
        data = ibd.extract_file_as_bytes(path, domain_like=domain)
        out["iphone_backup_decrypt"][domain + "/" + path] = hashlib.sha256(data).hexdigest()
print(json.dumps(out))
"#;

/// The independent readers give back every file's bytes from a backup the writer made.
fn readers_agree(python: &Path, dir: &Path, password: &str, files: &[TestFile]) {
    let request = serde_json::json!({
        "dir": dir,
        "password": password,
        "files": files.iter().map(|f| [f.domain, f.path]).collect::<Vec<_>>(),
    });
    let out = run(
        Command::new(python).arg("-c").arg(READERS).arg(request.to_string()),
        Duration::from_secs(120),
    );
    common::assert_success(&out, "the python backup readers");
    let got: Json = serde_json::from_slice(&out.stdout).unwrap();
    let readers: &[&str] = if password.is_empty() {
        &["pyiosbackup"]
    } else {
        &["pyiosbackup", "iphone_backup_decrypt"]
    };
    for reader in readers {
        for f in files {
            let key = format!("{}/{}", f.domain, f.path);
            assert_eq!(
                got[reader][&key].as_str(),
                Some(sha(&f.bytes).as_str()),
                "{reader} read {key} differently"
            );
        }
    }
}

#[test]
fn independent_readers_read_the_test_backups() {
    let Some(python) = venv_python() else { return };
    let root = tempfile::tempdir().unwrap();
    let files = files();
    let plain = write_backup(root.path(), UDID_PLAIN, &files, None);
    let encrypted = write_backup(root.path(), UDID_ENC, &files, Some(PASSWORD));
    readers_agree(&python, &plain, "", &files);
    readers_agree(&python, &encrypted, PASSWORD, &files);
}

#[test]
fn clean_backups_verify_clean() {
    let root = tempfile::tempdir().unwrap();
    let files = files();
    let plain = write_backup(root.path(), UDID_PLAIN, &files, None);
    let encrypted = write_backup(root.path(), UDID_ENC, &files, Some(PASSWORD));
    for (dir, password) in [(&plain, None), (&encrypted, Some(PASSWORD))] {
        for extra in [&[][..], &["--deep"][..]] {
            let (code, report, stderr) = verify_json(dir, extra, password);
            assert_eq!(code, 0, "{} {extra:?}: {report}\n{stderr}", dir.display());
            assert_eq!(findings(&report), Vec::<(String, String)>::new());
            assert_eq!(report["warnings"], Json::Array(vec![]), "{report}");
            assert_eq!(report["recorded"], files.len(), "{report}");
            assert_eq!(report["ok"], files.len(), "{report}");
            let checks = report["checks"].as_array().unwrap();
            let done = |name: &str| checks.iter().any(|c| c["name"] == name && c["done"] == true);
            for name in [
                "plists",
                "finished",
                "udid",
                "manifest-db",
                "file-ids",
                "blobs",
                "orphans",
            ] {
                assert!(done(name), "{name} not done: {report}");
            }
            assert_eq!(done("content"), !extra.is_empty(), "{report}");
            assert!(!done("recorded-sha256"), "{report}");
            if extra.is_empty() {
                assert_eq!(report["bytes_read"], 0, "a plain verify reads no file: {report}");
            }
        }
    }
    // The folder of both verifies too, and the text output says what was checked.
    let out = lifeboat(&["verify", root.path().to_str().unwrap()], Some(PASSWORD));
    common::assert_success(&out, "verify of a folder of backups");
    let stdout = text(&out.stdout);
    assert_contains(&stdout, "unencrypted backup of 00008110-001A2B3C4D5E6F70");
    assert_contains(&stdout, "encrypted backup of 00008030-000A1B2C3D4E5F60");
    assert_contains(
        &stdout,
        "not checked: the files' contents: only a deep check reads them",
    );

    // Without the password, only what it does not guard is checked, and that is said.
    let (code, report, stderr) = verify_json(&encrypted, &[], None);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_contains(&stderr, "no password was given");
    let checks = report["checks"].to_string();
    assert_contains(&checks, "the backup is encrypted and no password was given");
    assert_eq!(report["checked"], files.len(), "{report}");
}

#[test]
fn damage_to_a_plain_backup_is_found() {
    let root = tempfile::tempdir().unwrap();
    let plain = write_backup(root.path(), UDID_PLAIN, &files(), None);
    let jpeg = format!("CameraRollDomain/{JPEG_PATH}");
    let expect = |dir: &Path, extra: &[&str], want: &[(&str, &str)]| {
        common::backup_folder::expect_findings(dir, extra, None, want)
    };

    // A deleted blob, a truncated blob, an orphan blob.
    let (_keep, dir) = damaged_copy(&plain);
    std::fs::remove_file(blob_of(&dir, "CameraRollDomain", JPEG_PATH)).unwrap();
    let report = expect(&dir, &[], &[(&jpeg, "missing")]);
    let blob = report["findings"][0]["blob"].as_str().unwrap();
    assert_eq!(
        blob,
        layout::blob_path(&layout::file_id("CameraRollDomain", JPEG_PATH)).unwrap()
    );

    let (_keep, dir) = damaged_copy(&plain);
    let path = blob_of(&dir, "CameraRollDomain", JPEG_PATH);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    expect(&dir, &[], &[(&jpeg, "size-changed")]);

    let (_keep, dir) = damaged_copy(&plain);
    let orphan = layout::blob_path(&layout::file_id("HomeDomain", "Library/gone.txt")).unwrap();
    std::fs::create_dir_all(dir.join(&orphan).parent().unwrap()).unwrap();
    std::fs::write(dir.join(&orphan), b"left over").unwrap();
    expect(&dir, &[], &[(&orphan, "extra")]);

    // A flipped byte keeps the size: only --deep finds it (by the JPEG's structure).
    let (_keep, dir) = damaged_copy(&plain);
    let path = blob_of(&dir, "CameraRollDomain", JPEG_PATH);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    expect(&dir, &[], &[]);
    expect(&dir, &["--deep"], &[(&jpeg, "damaged")]);

    // A damaged SQLite file is found by --deep too.
    let (_keep, dir) = damaged_copy(&plain);
    let path = blob_of(&dir, "HomeDomain", "Library/Notes/notes.sqlite");
    let mut bytes = std::fs::read(&path).unwrap();
    // The header of page 2, the table's page.
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    for b in &mut bytes[page..page + 12] {
        *b = 0x55;
    }
    std::fs::write(&path, &bytes).unwrap();
    expect(
        &dir,
        &["--deep"],
        &[("HomeDomain/Library/Notes/notes.sqlite", "damaged")],
    );

    // A row whose fileID is not SHA-1(domain-relativePath), its blob moved with it.
    let (_keep, dir) = damaged_copy(&plain);
    let old = layout::file_id("AppDomain-com.example.app", "Documents/readme.txt");
    let new = format!("{}0000", &old[..36]);
    let conn = rusqlite::Connection::open(dir.join("Manifest.db")).unwrap();
    conn.execute("UPDATE Files SET fileID = ?1 WHERE fileID = ?2", [&new, &old])
        .unwrap();
    drop(conn);
    std::fs::rename(
        dir.join(layout::blob_path(&old).unwrap()),
        dir.join(layout::blob_path(&new).unwrap()),
    )
    .unwrap();
    let report = expect(
        &dir,
        &[],
        &[("AppDomain-com.example.app/Documents/readme.txt", "damaged")],
    );
    assert_contains(
        &report["findings"][0]["detail"].to_string(),
        "SHA-1(domain-relativePath)",
    );

    // A corrupt Manifest.db page.
    let (_keep, dir) = damaged_copy(&plain);
    let mut db = std::fs::read(dir.join("Manifest.db")).unwrap();
    let page = u16::from_be_bytes([db[16], db[17]]) as usize;
    for b in &mut db[page + 8..page + 40] {
        *b = 0xFF;
    }
    std::fs::write(dir.join("Manifest.db"), &db).unwrap();
    let (code, report, _) = verify_json(&dir, &[], None);
    assert_eq!(code, 1, "{report}");
    assert!(
        findings(&report).contains(&("Manifest.db".into(), "damaged".into())),
        "{report}"
    );

    // An empty Manifest.plist: named as the cause of error 205, with what to do.
    let (_keep, dir) = damaged_copy(&plain);
    std::fs::write(dir.join("Manifest.plist"), b"").unwrap();
    let report = expect(&dir, &[], &[("Manifest.plist", "damaged")]);
    let detail = report["findings"][0]["detail"].to_string();
    assert_contains(&detail, "error 205");
    assert_contains(&detail, "move the folder aside");

    // An interrupted backup: a leftover Snapshot/, a Status left at "moving".
    let (_keep, dir) = damaged_copy(&plain);
    std::fs::create_dir_all(dir.join("Snapshot/00")).unwrap();
    expect(&dir, &[], &[("Snapshot/", "temporary")]);
    let (_keep, dir) = damaged_copy(&plain);
    let mut status = plist::Value::from_file(dir.join("Status.plist")).unwrap();
    status
        .as_dictionary_mut()
        .unwrap()
        .insert("SnapshotState".into(), Value::String("moving".into()));
    status.to_file_xml(dir.join("Status.plist")).unwrap();
    let report = expect(&dir, &[], &[("Status.plist", "damaged")]);
    assert_contains(&report["findings"][0]["detail"].to_string(), "moving");

    // A Size that disagrees on a database is a warning only (real iOS does this, §5).
    let (_keep, dir) = damaged_copy(&plain);
    let path = blob_of(&dir, "HomeDomain", "Library/Notes/notes.sqlite");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&path, &bytes).unwrap();
    let report = expect(&dir, &[], &[]);
    assert_eq!(report["warnings"][0]["status"], "size-changed", "{report}");
    // ... but a file of a type that cannot be checked, cut short, is an error.
    let path = blob_of(&dir, "AppDomain-com.example.app", "Documents/readme.txt");
    std::fs::write(&path, b"Hello from").unwrap();
    expect(
        &dir,
        &[],
        &[("AppDomain-com.example.app/Documents/readme.txt", "size-changed")],
    );

    // A first backup interrupted before Manifest.db arrived is still recognised.
    let (_keep, dir) = damaged_copy(&plain);
    for name in ["Manifest.db", "Manifest.plist"] {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    std::fs::create_dir_all(dir.join("Snapshot")).unwrap();
    expect(
        &dir,
        &[],
        &[
            ("Manifest.db", "missing"),
            ("Manifest.plist", "missing"),
            ("Snapshot/", "temporary"),
        ],
    );
}

#[test]
fn damage_to_an_encrypted_backup_is_found() {
    let root = tempfile::tempdir().unwrap();
    let encrypted = write_backup(root.path(), UDID_ENC, &files(), Some(PASSWORD));
    let jpeg = format!("CameraRollDomain/{JPEG_PATH}");

    // A wrong password: a clear message and exit 1.
    let (code, _, stderr) = verify_json(&encrypted, &[], Some("not the password"));
    assert_eq!(code, 1, "{stderr}");
    assert_contains(&stderr, "the backup password is wrong");
    assert!(
        !stderr.contains("not the password"),
        "the password was printed: {stderr}"
    );

    // The same through --password-file.
    let pw = root.path().join("pw.txt");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let (code, report, stderr) = verify_json(&encrypted, &["--password-file", pw.to_str().unwrap()], None);
    assert_eq!((code, findings(&report)), (0, vec![]), "{stderr}");

    let check = |dir: &Path, extra: &[&str], want: (&str, &str)| {
        let (code, report, stderr) = verify_json(dir, extra, Some(PASSWORD));
        assert_eq!(
            findings(&report),
            vec![(want.0.to_string(), want.1.to_string())],
            "{report}\n{stderr}"
        );
        assert_eq!(code, 1);
        report
    };
    // Deleted, cut by a block, cut mid-block, a flipped byte in the last block (padding),
    // a flipped byte in the first block of a JPEG (found by --deep), an orphan.
    let (_keep, dir) = damaged_copy(&encrypted);
    std::fs::remove_file(blob_of(&dir, "CameraRollDomain", JPEG_PATH)).unwrap();
    check(&dir, &[], (&jpeg, "missing"));

    for cut in [16usize, 5] {
        let (_keep, dir) = damaged_copy(&encrypted);
        let path = blob_of(&dir, "CameraRollDomain", JPEG_PATH);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        check(&dir, &[], (&jpeg, "size-changed"));
    }

    let (_keep, dir) = damaged_copy(&encrypted);
    let path = blob_of(&dir, "AppDomain-com.example.app", "Documents/readme.txt");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let report = check(&dir, &[], ("AppDomain-com.example.app/Documents/readme.txt", "damaged"));
    assert_contains(&report["findings"][0]["detail"].to_string(), "PKCS#7");

    let (_keep, dir) = damaged_copy(&encrypted);
    let path = blob_of(&dir, "CameraRollDomain", JPEG_PATH);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let (code, report, _) = verify_json(&dir, &[], Some(PASSWORD));
    assert_eq!((code, findings(&report)), (0, vec![]), "CBC has no MAC: {report}");
    check(&dir, &["--deep"], (&jpeg, "damaged"));

    let (_keep, dir) = damaged_copy(&encrypted);
    std::fs::create_dir_all(dir.join("ff")).unwrap();
    std::fs::write(dir.join("ff/ff00000000000000000000000000000000000000"), [0u8; 32]).unwrap();
    check(&dir, &[], ("ff/ff00000000000000000000000000000000000000", "extra"));

    // A damaged ManifestKey: named, and what it guards is said to be unchecked.
    let (_keep, dir) = damaged_copy(&encrypted);
    let mut manifest = plist::Value::from_file(dir.join("Manifest.plist")).unwrap();
    let dict = manifest.as_dictionary_mut().unwrap();
    let mut key = dict.get("ManifestKey").and_then(Value::as_data).unwrap().to_vec();
    key[10] ^= 0x01;
    dict.insert("ManifestKey".into(), Value::Data(key));
    manifest.to_file_xml(dir.join("Manifest.plist")).unwrap();
    let report = check(&dir, &[], ("Manifest.plist", "damaged"));
    assert_contains(&report["findings"][0]["detail"].to_string(), "ManifestKey");
    assert_contains(&report["checks"].to_string(), "need a sound keybag and ManifestKey");

    // A Manifest.db cut short does not decrypt.
    let (_keep, dir) = damaged_copy(&encrypted);
    let db = std::fs::read(dir.join("Manifest.db")).unwrap();
    std::fs::write(dir.join("Manifest.db"), &db[..db.len() - 16]).unwrap();
    check(&dir, &[], ("Manifest.db", "damaged"));

    // Without the password a blob that is not whole blocks is still found.
    let (_keep, dir) = damaged_copy(&encrypted);
    let path = blob_of(&dir, "CameraRollDomain", JPEG_PATH);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let (code, report, _) = verify_json(&dir, &[], None);
    let blob = layout::blob_path(&layout::file_id("CameraRollDomain", JPEG_PATH)).unwrap();
    assert_eq!(
        (code, findings(&report)),
        (1, vec![(blob, "damaged".to_string())]),
        "{report}"
    );
}

#[test]
fn backups_lists_what_is_there() {
    let root = tempfile::tempdir().unwrap();
    let files = files();
    write_backup(root.path(), UDID_PLAIN, &files, None);
    write_backup(root.path(), UDID_ENC, &files, Some(PASSWORD));
    let interrupted = write_backup(root.path(), "00008101-000123456789001E", &files[..1], None);
    std::fs::create_dir_all(interrupted.join("Snapshot")).unwrap();
    let out = lifeboat(&["backups", "--json", root.path().to_str().unwrap()], None);
    common::assert_success(&out, "backups --json");
    let json: Json = serde_json::from_slice(&out.stdout).unwrap();
    let backups = json["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 3, "{json}");
    let by_udid = |udid: &str| {
        backups
            .iter()
            .find(|b| b["udid"] == udid)
            .unwrap_or_else(|| panic!("{udid} in {json}"))
    };
    let plain = by_udid(UDID_PLAIN);
    assert_eq!(plain["device_name"], "Ada's iPhone");
    assert_eq!(plain["model"], "iPhone 14 Pro");
    assert_eq!(plain["ios_version"], "17.5");
    assert_eq!(plain["date"], 1_700_000_200);
    assert_eq!(plain["encrypted"], false);
    assert_eq!(plain["state"], "finished");
    assert!(plain["size"].as_u64().unwrap() > files.iter().map(|f| f.bytes.len() as u64).sum::<u64>());
    assert_eq!(by_udid(UDID_ENC)["encrypted"], true);
    assert_eq!(by_udid("00008101-000123456789001E")["state"], "interrupted");
    let looked = json["looked_in"].to_string();
    assert_contains(&looked, ".local/share/lifeboat/backups");

    let out = lifeboat(&["backups", root.path().to_str().unwrap()], None);
    common::assert_success(&out, "backups");
    let stdout = text(&out.stdout);
    assert_contains(&stdout, "Ada's iPhone (iPhone 14 Pro, iOS 17.5)");
    assert_contains(&stdout, "state      interrupted: a Snapshot/ folder is left");
}

/// A hostile folder is input too: mutated plists, Manifest.db pages, MBFile records and
/// blobs give findings or errors, never a panic (docs/backup.md §2.4).
#[test]
fn hostile_backups_never_panic() {
    use transfer::finder::verify::{Options, verify_backup};
    let root = tempfile::tempdir().unwrap();
    let files = files();
    let plain = write_backup(root.path(), UDID_PLAIN, &files, None);
    let encrypted = write_backup(root.path(), UDID_ENC, &files, Some(PASSWORD));
    let password = keybag::Password::new(PASSWORD.into());
    let options = Options {
        deep: true,
        password: Some(&password),
        recorded: None,
        on_bytes: &|_| {},
    };
    let mut rng = Rng(0xbadf00d);
    for round in 0..60 {
        let source = if round % 3 == 2 { &encrypted } else { &plain };
        let (_keep, dir) = damaged_copy(source);
        let blobs = layout::blob_files(&dir).unwrap();
        let target = match rng.below(5) {
            0 => dir.join("Manifest.db"),
            1 if source == &plain => dir.join("Manifest.plist"),
            2 => dir.join("Status.plist"),
            3 => dir.join("Info.plist"),
            _ => dir.join(&blobs[rng.below(blobs.len() as u64) as usize]),
        };
        let bytes = std::fs::read(&target).unwrap();
        std::fs::write(&target, rng.mutate(&bytes)).unwrap();
        if source == &plain && rng.below(2) == 0 {
            // Hostile MBFile records inside a sound database.
            if let Ok(conn) = rusqlite::Connection::open(dir.join("Manifest.db")) {
                let rows: Vec<(String, Vec<u8>)> = conn
                    .prepare("SELECT fileID, file FROM Files")
                    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .unwrap_or_default();
                for (id, file) in rows {
                    let _ = conn.execute(
                        "UPDATE Files SET file = ?1 WHERE fileID = ?2",
                        rusqlite::params![rng.mutate(&file), id],
                    );
                }
            }
        }
        // Ok with findings, or an error: anything but a panic.
        let _ = verify_backup(&dir, &options);
        let _ = transfer::finder::list::describe(&dir);
    }
}

/// Neither the password nor the key derived from it is printed, in text, JSON or errors,
/// and nothing lifeboat writes while verifying (its private copies, all removed at the end)
/// holds them.
#[test]
fn password_and_key_are_never_printed_or_left() {
    let root = tempfile::tempdir().unwrap();
    let encrypted = write_backup(root.path(), UDID_ENC, &files(), Some(PASSWORD));
    let manifest = transfer::finder::plists::read_manifest(&encrypted).unwrap();
    let bag = keybag::parse(&manifest.keybag.unwrap()).unwrap();
    let key = bag.derive(&keybag::Password::new(PASSWORD.into())).unwrap();
    let key_hex: String = key.bytes().iter().map(|b| format!("{b:02x}")).collect();
    let secrets = [
        PASSWORD.to_string(),
        key_hex[..32].to_string(),
        "wrong-but-secret".into(),
    ];
    let dir = encrypted.to_str().unwrap();
    for (args, password) in [
        (vec!["verify", dir], PASSWORD),
        (vec!["verify", "--deep", "--json", dir], PASSWORD),
        (vec!["verify", dir], "wrong-but-secret"),
        (vec!["verify", "--json", dir], "wrong-but-secret"),
        (vec!["backups", "--json", dir], PASSWORD),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .env("TMPDIR", tmp.path())
            .env("LIFEBOAT_BACKUP_PASSWORD", password)
            .args(&args);
        let out = run(&mut cmd, Duration::from_secs(120));
        let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
        for secret in &secrets {
            assert!(
                !printed.contains(secret.as_str()),
                "{args:?} printed a secret:\n{printed}"
            );
        }
        let left: Vec<_> = walkdir::WalkDir::new(tmp.path())
            .min_depth(1)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.path().to_path_buf())
            .collect();
        assert!(left.is_empty(), "{args:?} left {left:?} in TMPDIR");
    }
}
