//! `lifeboat verify`: a folder checked against its manifest (bit rot, truncation, loss,
//! strays, damage the hash cannot see), sampled checks, manifests for other tools' folders,
//! and `--against-device` for a folder pymobiledevice3 made.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::library::{AssetKind, LibrarySpec};
use fake_iphone::{FakeIphone, RunningFake};

fn library() -> LibrarySpec {
    LibrarySpec {
        edited: 1,
        photo_padding: 30_000,
        ..presets::small("17.5")
    }
}

fn verify_json(fake: &RunningFake, home: &Home, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["verify", "--json"];
    all.extend_from_slice(args);
    let out = lifeboat(fake, home, &all);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), json)
}

fn findings(json: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn exported_file(dest: &Path, ext: &str, nth: usize) -> String {
    let mut files: Vec<String> = tree::exported(dest).into_iter().filter(|p| p.ends_with(ext)).collect();
    files.sort();
    files[nth].clone()
}

#[test]
fn finds_exactly_what_changed() {
    let phone = Phone::paired(library(), |c| c);
    let (fake, home) = (&phone.fake, &phone.home);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().to_str().unwrap();
    assert_success(&lifeboat(fake, home, &["export-photos", dir]), "export");
    let (code, clean) = verify_json(fake, home, &[dir]);
    assert_eq!(code, Some(0), "{clean}");
    assert_eq!(clean["ok"], clean["recorded"]);
    assert_eq!(findings(&clean), vec![]);
    // Each byte is read once: hash and structure check share one pass.
    let on_disk: u64 = tree::exported(dest.path())
        .iter()
        .map(|p| std::fs::metadata(dest.path().join(p)).unwrap().len())
        .sum();
    assert_eq!(clean["bytes_read"].as_u64(), Some(on_disk));
    let total = clean["recorded"].as_u64().unwrap();
    assert!(total > 15);

    // Flip one byte, truncate one file, delete one, add one.
    let flipped = exported_file(dest.path(), ".HEIC", 0);
    let mut bytes = std::fs::read(dest.path().join(&flipped)).unwrap();
    bytes[500] ^= 0x01;
    std::fs::write(dest.path().join(&flipped), bytes).unwrap();
    let truncated = exported_file(dest.path(), ".HEIC", 1);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dest.path().join(&truncated))
        .unwrap();
    file.set_len(1000).unwrap();
    let deleted = exported_file(dest.path(), ".MOV", 0);
    std::fs::remove_file(dest.path().join(&deleted)).unwrap();
    std::fs::write(dest.path().join("2019/01/stray.txt"), b"not from the phone").unwrap();

    let (code, report) = verify_json(fake, home, &[dir]);
    assert_eq!(code, Some(1));
    let mut expected = vec![
        (flipped, "corrupt".to_string()),
        (truncated, "size-changed".to_string()),
        (deleted, "missing".to_string()),
        ("2019/01/stray.txt".to_string(), "extra".to_string()),
    ];
    expected.sort();
    assert_eq!(findings(&report), expected);
    assert_eq!(report["ok"].as_u64(), Some(total - 3));

    // The human report marks them as rclone does.
    let human = lifeboat(fake, home, &["verify", dir]);
    assert_eq!(human.status.code(), Some(1));
    let shown = text(&human.stdout);
    assert_eq!(shown.lines().filter(|l| l.starts_with("* ")).count(), 2, "{shown}");
    assert!(
        shown.lines().any(|l| l.starts_with("- ")) && shown.lines().any(|l| l.starts_with("+ ")),
        "{shown}"
    );

    // A sample reads a share of the files.
    let (_, sampled) = verify_json(fake, home, &["--sample", "25", dir]);
    assert_eq!(sampled["checked"].as_u64(), Some(total.div_ceil(4)));
}

#[test]
fn a_photo_truncated_on_the_phone_is_damaged_though_its_hash_matches() {
    let phone = Phone::paired(
        LibrarySpec {
            truncated: 1,
            ..library()
        },
        |c| c,
    );
    let (fake, home, media, assets) = (&phone.fake, &phone.home, phone.media(), &phone.assets);
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().to_str().unwrap();
    assert_success(
        &lifeboat(fake, home, &["export-photos", "--layout", "device", dir]),
        "export",
    );
    let cut = assets.iter().find(|a| a.kind == AssetKind::Truncated).unwrap();
    assert_eq!(
        std::fs::read(dest.path().join(&cut.original)).unwrap(),
        std::fs::read(media.join(&cut.original)).unwrap()
    );
    let (code, report) = verify_json(fake, home, &[dir]);
    assert_eq!(code, Some(1));
    assert_eq!(findings(&report), vec![(cut.original.clone(), "damaged".to_string())]);
    assert!(
        report["findings"][0]["detail"].as_str().unwrap().contains("EOI"),
        "{report}"
    );
}

#[test]
fn against_device_lists_what_another_tools_folder_lacks() {
    let Some(program) = peer("pymobiledevice3") else { return };
    let phone = Phone::paired(library(), |c| c);
    let (fake, home, assets) = (&phone.fake, &phone.home, &phone.assets);
    let folder = tempfile::tempdir().unwrap();
    for remote in ["/DCIM", "/PhotoData/CPLAssets", "/PhotoData/Mutations"] {
        let mut cmd = Command::new(&program);
        home.apply(&mut cmd);
        cmd.args([
            "afc",
            "pull",
            remote,
            folder.path().to_str().unwrap(),
            "--usbmux",
            &fake.usbmux_address(),
        ]);
        assert_success(&run(&mut cmd, Duration::from_secs(180)), "pymobiledevice3 afc pull");
    }
    // Lose three photos from the other tool's copy.
    let mut gone: Vec<String> = assets
        .iter()
        .filter(|a| a.kind == AssetKind::Photo)
        .take(3)
        .map(|a| a.original.clone())
        .collect();
    for path in &gone {
        std::fs::remove_file(folder.path().join(path)).unwrap();
    }
    let dir = folder.path().to_str().unwrap();
    let (code, report) = verify_json(fake, home, &["--against-device", dir]);
    assert_eq!(code, Some(1), "{report}");
    let mut missing = json_strings(&report["missing"]);
    missing.sort();
    gone.sort();
    assert_eq!(missing, gone);
    let present = report["present"].as_array().unwrap().len() as u64;
    assert_eq!(present + 3, report["phone_files"].as_u64().unwrap());

    // A manifest for that folder, then bit rot is found.
    let init = lifeboat(fake, home, &["verify", "--init", dir]);
    assert_success(&init, "verify --init");
    let (code, _) = verify_json(fake, home, &[dir]);
    assert_eq!(code, Some(0));
    let victim = folder
        .path()
        .join(&assets.iter().find(|a| a.kind == AssetKind::Video).unwrap().original);
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&victim, bytes).unwrap();
    let (code, report) = verify_json(fake, home, &[dir]);
    assert_eq!(code, Some(1));
    assert_eq!(findings(&report).len(), 1);
    assert_eq!(findings(&report)[0].1, "corrupt");
}

#[test]
fn a_folder_without_a_manifest_says_how_to_make_one() {
    let fake = FakeIphone::new().start().unwrap();
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = lifeboat(&fake, &home, &["verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_contains(&text(&out.stderr), "verify --init");
    let out = lifeboat(&fake, &home, &["verify", "/nonexistent/folder"]);
    assert_eq!(out.status.code(), Some(2));
}
