//! The one name rule, end to end: a name taken by other content moves a whole asset to the
//! next suffix, counted from (1); a phone file whose name no disk can hold is saved under a
//! safe name, never skipped; `files pull` saves case twins side by side.

mod common;

use std::path::Path;

use common::*;
use fake_iphone::library::{LibrarySpec, make_library};
use fake_iphone::{FakeIphone, PhoneConfig, RunningFake};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn start(media: &Path) -> (RunningFake, Home) {
    let fake = FakeIphone::new().phone(PhoneConfig::new(UDID, media)).start().unwrap();
    let home = Home::new();
    assert_success(&lifeboat(&fake, &home, &["pair"]), "pair");
    (fake, home)
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    sha(&std::fs::read(a).unwrap()) == sha(&std::fs::read(b).unwrap())
}

/// A Live Photo whose original's name already holds a different file in the destination.
/// `same_size`: the stranger has the original's size, so only its hash tells it apart, when
/// the file arrives; otherwise the plan sees it at once.
fn live_photo_moves_whole(same_size: bool) {
    let media = tempfile::tempdir().unwrap();
    let assets = make_library(
        media.path(),
        &LibrarySpec {
            ios: "17.5".into(),
            photos: 3,
            live: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let live = assets
        .iter()
        .find(|a| a.files.iter().any(|f| f.ends_with(".MOV")) && a.files.len() >= 2)
        .expect("a Live Photo");
    let original = media.path().join(&live.files[0]);
    let video = media
        .path()
        .join(live.files.iter().find(|f| f.ends_with(".MOV")).unwrap());
    let name = |path: &Path| path.file_name().unwrap().to_string_lossy().into_owned();
    let (stem, ext) = name(&original)
        .rsplit_once('.')
        .map(|(s, e)| (s.to_string(), e.to_string()))
        .unwrap();

    let dest = tempfile::tempdir().unwrap();
    let stranger = dest.path().join(name(&original));
    let mut other = std::fs::read(&original).unwrap();
    if same_size {
        let last = other.len() - 1;
        other[last] ^= 0xff;
    } else {
        other.truncate(other.len() / 2);
    }
    std::fs::write(&stranger, &other).unwrap();

    let (fake, home) = start(media.path());
    let out = lifeboat(
        &fake,
        &home,
        &["export-photos", dest.path().to_str().unwrap(), "--layout", "flat"],
    );
    assert_success(&out, "export");
    assert_eq!(std::fs::read(&stranger).unwrap(), other, "the stranger is untouched");
    let moved_original = dest.path().join(format!("{stem} (1).{ext}"));
    let moved_video = dest.path().join(format!("{stem} (1).MOV"));
    assert!(
        moved_original.is_file() && same_bytes(&moved_original, &original),
        "the original is under (1)"
    );
    assert!(
        moved_video.is_file() && same_bytes(&moved_video, &video),
        "the video half follows it to (1), not left under the old name"
    );
    assert!(
        !dest.path().join(format!("{stem}.MOV")).exists(),
        "no half is left behind"
    );
    assert!(
        !dest.path().join(format!("{stem} (2).{ext}")).exists(),
        "suffixes count from (1)"
    );
    let verify = lifeboat(&fake, &home, &["verify", dest.path().to_str().unwrap()]);
    // The stranger is not lifeboat's: the one finding is it, as extra.
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify.stdout));
    let report = text(&verify.stdout);
    assert!(report.contains(&format!("+ {}", name(&original))), "{report}");
    assert!(report.contains("1 extra"), "{report}");
}

#[test]
fn a_live_photo_whose_name_is_taken_moves_both_halves_to_one_suffix() {
    live_photo_moves_whole(false);
}

#[test]
fn a_name_found_taken_only_when_the_file_arrives_moves_the_whole_asset_too() {
    live_photo_moves_whole(true);
}

#[test]
fn names_no_disk_can_hold_are_saved_under_safe_names() {
    let media = tempfile::tempdir().unwrap();
    make_library(
        media.path(),
        &LibrarySpec {
            ios: "17.5".into(),
            photos: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let folder = media.path().join("DCIM/100APPLE");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let odd = [
        ("IMG\\9003.JPG", "IMG_9003.JPG", "IMG_0001.JPG"),
        ("new\nline.PNG", "new_line.PNG", "IMG_0003.PNG"),
        ("CON.HEIC", "CON_.HEIC", "IMG_0002.HEIC"),
    ];
    for (phone_name, _, fixture) in odd {
        std::fs::copy(fixtures.join(fixture), folder.join(phone_name)).unwrap();
    }
    let (fake, home) = start(media.path());
    let dest = tempfile::tempdir().unwrap();
    let export = || {
        let out = lifeboat(
            &fake,
            &home,
            &[
                "export-photos",
                dest.path().to_str().unwrap(),
                "--layout",
                "flat",
                "--json",
            ],
        );
        assert_success(&out, "export");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let summary = export();
    assert_eq!(summary["skipped"].as_array().map(Vec::len), Some(0), "{summary:#}");
    for (phone_name, local, _) in odd {
        let saved = dest.path().join(local);
        assert!(saved.is_file(), "{phone_name:?} is saved as {local}");
        assert!(same_bytes(&saved, &folder.join(phone_name)));
    }
    // The manifest keeps the phone's own names.
    let rows = transfer::manifest::Manifest::open(dest.path()).unwrap().all().unwrap();
    for (phone_name, local, _) in odd {
        assert!(
            rows.iter()
                .any(|r| r.device_path == format!("DCIM/100APPLE/{phone_name}") && r.dest_path == local),
            "{phone_name:?}: {rows:#?}"
        );
    }
    assert_success(
        &lifeboat(&fake, &home, &["verify", dest.path().to_str().unwrap()]),
        "verify",
    );
    if let Some(sha256sum) = peer("sha256sum") {
        let check = run(
            std::process::Command::new(sha256sum)
                .arg("-c")
                .arg("--strict")
                .arg("SHA256SUMS")
                .current_dir(dest.path()),
            std::time::Duration::from_secs(60),
        );
        assert_success(&check, "sha256sum -c");
    }
    // Nothing new the second time.
    assert_eq!(export()["copied"], 0);
}

#[test]
fn files_pull_saves_case_twins_side_by_side() {
    let media = tempfile::tempdir().unwrap();
    let folder = media.path().join("DCIM/100APPLE");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("IMG_0001.JPG"), b"upper").unwrap();
    std::fs::write(folder.join("img_0001.jpg"), b"lower").unwrap();
    std::fs::write(folder.join("tab\there.JPG"), b"tab").unwrap();
    let (fake, home) = start(media.path());
    let dest = tempfile::tempdir().unwrap();
    let out = lifeboat(&fake, &home, &["files", "pull", "/DCIM", dest.path().to_str().unwrap()]);
    assert_success(&out, "pull");
    let pulled = dest.path().join("DCIM/100APPLE");
    let mut contents: Vec<(String, Vec<u8>)> = std::fs::read_dir(&pulled)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    contents.sort();
    let names: Vec<&str> = contents.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"tab_here.JPG"), "{names:?}");
    // Listing order decides which twin keeps the plain name; both are there, each whole.
    let mut bodies: Vec<&[u8]> = contents.iter().map(|(_, b)| b.as_slice()).collect();
    bodies.sort();
    assert_eq!(bodies, [&b"lower"[..], b"tab", b"upper"]);
    assert!(
        names.iter().any(|n| n.eq_ignore_ascii_case("IMG_0001 (1).JPG")),
        "the second twin gets (1): {names:?}"
    );
}
