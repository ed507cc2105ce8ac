//! A phone that lies: hostile names in its folders (`..`, `/`, control characters, a case
//! twin, a symbolic link out of the tree), an absurd size, and a Photos.sqlite whose paths
//! point outside the media folder, then one that is not a database at all. Nothing may be
//! written outside the destination, nothing but whole phone files inside it, and every
//! such entry is reported.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::Faults;
use fake_iphone::library::LibrarySpec;

fn spec() -> LibrarySpec {
    LibrarySpec {
        photo_padding: 5_000,
        video_padding: 10_000,
        ..presets::one_of_each("17.5")
    }
}

/// Regular files below `root`; a symbolic link fails the test.
fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    tree::regular_files(root, tree::Links::Fail)
}

/// Every file the phone holds, by hash (its links lead outside and do not count).
fn phone_hashes(media: &Path) -> HashSet<String> {
    tree::regular_files(media, tree::Links::Skip)
        .iter()
        .map(|p| sha_file(p))
        .collect()
}

/// Only `dest` appeared in `outer`, and everything in `dest` is a whole phone file.
fn contained(outer: &Path, dest: &Path, phone_files: &HashSet<String>) -> usize {
    let names: Vec<String> = std::fs::read_dir(outer)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["dest"], "nothing is written beside the destination");
    let mut photos = 0;
    for path in files_under(dest) {
        let rel = tree::rel(dest, &path);
        let base = rel.rsplit('/').next().unwrap_or("");
        if rel.starts_with(".lifeboat") || base == "SHA256SUMS" {
            continue;
        }
        assert!(phone_files.contains(&sha_file(&path)), "{rel} is not a phone file");
        photos += 1;
    }
    photos
}

#[test]
fn hostile_names_sizes_and_database_paths_stay_out_of_the_destination() {
    let Some(sqlite3) = peer("sqlite3") else { return };
    let (media, _) = phone::library(&spec());
    // The database now points some assets outside the media folder or at odd names.
    let db = media.path().join("PhotoData/Photos.sqlite");
    let tamper = run(
        Command::new(&sqlite3).arg(&db).arg(
            "UPDATE ZASSET SET ZDIRECTORY = '../../../..', ZFILENAME = 'escape.JPG' WHERE Z_PK = 1;
             UPDATE ZASSET SET ZDIRECTORY = '/etc', ZFILENAME = 'passwd' WHERE Z_PK = 2;
             UPDATE ZASSET SET ZFILENAME = '..' WHERE Z_PK = 3;
             UPDATE ZASSET SET ZFILENAME = 'a/../../b.JPG' WHERE Z_PK = 4;",
        ),
        Duration::from_secs(30),
    );
    assert_success(&tamper, "tamper with Photos.sqlite");
    // A link from inside the phone's folders to a file outside them.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.JPG"), b"not the phone's").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.JPG"),
        media.path().join("DCIM/100APPLE/IMG_9000.JPG"),
    )
    .unwrap();
    let phone_files = phone_hashes(media.path());
    let faults = Faults {
        hostile_listing: true,
        wrong_size: Some(("IMG_0005".into(), 1 << 62)),
        ..Default::default()
    };
    let fake = phone::start_fake(media.path(), |c| c.faults(faults));
    let home = phone::paired_home(&fake);

    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    let out = lifeboat(&fake, &home, &["export-photos", dest.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a lying size fails its file: {}",
        text(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let copied = contained(outer.path(), &dest, &phone_files);
    assert!(copied >= 8, "the honest files still arrive: {copied}");
    assert!(!outside.path().join("escape.JPG").exists());

    let listed = |key: &str| -> Vec<String> {
        summary[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["path"].as_str().unwrap(), e["reason"].as_str().unwrap()))
            .collect()
    };
    let skipped = listed("skipped");
    for hostile in ["escape.JPG", "sub/dir.JPG", "ctrl", "IMG_9000.JPG", "IMG_LINK.JPG"] {
        assert!(
            skipped.iter().any(|s| s.contains(hostile)),
            "{hostile} is reported as skipped: {skipped:#?}"
        );
    }
    let failed = listed("failed");
    assert!(
        failed.iter().any(|f| f.contains("IMG_0005")),
        "the absurd size is reported: {failed:#?}"
    );
    // Database rows that leave the media folder are reported and never followed.
    for row in ["../../../../escape.JPG", "/etc/passwd", "100APPLE/..", "a/../../b.JPG"] {
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("Photos.sqlite") && s.contains(row)),
            "the database row {row} is reported: {skipped:#?}"
        );
    }
    let passwd = std::fs::read("/etc/passwd").map(|b| sha(&b)).unwrap_or_default();
    assert!(
        files_under(&dest).iter().all(|p| sha_file(p) != passwd),
        "nothing from outside the media folder was copied"
    );

    // Then the database is not a database at all: the folders alone still give every file.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(media.path().join(format!("PhotoData/Photos.sqlite{suffix}")));
    }
    std::fs::write(&db, b"SQLite format 3\0 but then garbage ".repeat(200)).unwrap();
    assert!(fake.arm(None, Faults::default()));
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    let out = lifeboat(&fake, &home, &["export-photos", dest.to_str().unwrap()]);
    assert_success(&out, "export with a corrupt Photos.sqlite");
    assert!(
        text(&out.stderr).contains("photo folders alone"),
        "the fallback is said: {}",
        text(&out.stderr)
    );
    let copied = contained(outer.path(), &dest, &phone_hashes(media.path()));
    assert!(copied >= 13, "every file in the folders arrives: {copied}");
}
