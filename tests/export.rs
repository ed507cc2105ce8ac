//! `lifeboat export-photos` against generated libraries: every original present lands with
//! the right SHA-256, for each iOS schema; a second run reads nothing; kills at random
//! points lose nothing; same-named files both survive; two runs at once do not mix.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::rng::Xorshift64;
use common::*;
use fake_iphone::Link;
use fake_iphone::library::{AssetKind, LibrarySpec};

#[test]
fn every_present_original_lands_once_with_its_hash() {
    let phone = Phone::paired(presets::every_kind("17.5"), |c| c);
    let dest = tempfile::tempdir().unwrap();
    let out = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap(), "--json"]);
    // Cloud-only originals are left, so the run reports exit 1 and says what to do.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cloud_only = json_strings(&summary["cloud_only"]);
    let truth: Vec<&str> = phone
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::CloudOnly)
        .map(|a| a.original.as_str())
        .collect();
    assert_eq!(cloud_only, truth);
    assert!(
        summary["cloud_only_advice"]
            .as_str()
            .unwrap()
            .contains("Download and Keep Originals")
    );
    assert_eq!(summary["failed"], serde_json::json!([]));

    let exported = tree::exported_hashes(dest.path());
    let mut got: Vec<String> = exported.values().cloned().collect();
    got.sort();
    assert_eq!(
        got,
        phone.expected_export(),
        "exactly the present files of the non-trashed assets"
    );
    assert_eq!(summary["copied"].as_u64(), Some(exported.len() as u64));
    // Live Photo halves share a base name; edits sit beside their original.
    for asset in phone.assets.iter().filter(|a| a.kind == AssetKind::Live) {
        let stem = Path::new(&asset.original)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let halves: Vec<&String> = exported
            .keys()
            .filter(|k| Path::new(k).file_stem().unwrap().to_string_lossy() == stem)
            .collect();
        assert_eq!(halves.len(), 2, "{stem}: {halves:?}");
        assert_eq!(Path::new(halves[0]).parent(), Path::new(halves[1]).parent());
    }
    assert_eq!(exported.keys().filter(|k| k.ends_with("_edited.HEIC")).count(), 2);
    // Capture dates become file times, and folders follow them (YYYY/MM).
    let first = phone.assets.iter().find(|a| a.kind == AssetKind::Photo).unwrap();
    let name = Path::new(&first.original)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let local = exported.keys().find(|k| k.ends_with(&name)).unwrap();
    assert!(local.starts_with("2019/01/"), "{local}");
    let mtime = std::fs::metadata(dest.path().join(local)).unwrap().modified().unwrap();
    assert_eq!(mtime, std::time::UNIX_EPOCH + Duration::from_secs(first.created as u64));
    assert_eq!(
        sha256sum_check(dest.path(), "export"),
        exported.len(),
        "SHA256SUMS cover every file"
    );

    // A second run copies nothing and reads no file data from the phone.
    let served = phone.fake.file_bytes_served(None);
    let again = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap(), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["copied"], 0);
    assert_eq!(summary["already_there"].as_u64(), Some(exported.len() as u64));
    assert_eq!(phone.fake.file_bytes_served(None), served, "no file data was read");
    assert_eq!(tree::exported_hashes(dest.path()), exported);
}

#[test]
fn every_ios_schema_exports() {
    for ios in ["13.7", "15.8", "17.6", "18.1"] {
        let phone = Phone::paired(presets::every_kind(ios), |c| c);
        let dest = tempfile::tempdir().unwrap();
        let out = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap(), "--json"]);
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["source"], "Photos.sqlite", "iOS {ios}: {}", text(&out.stderr));
        let mut got: Vec<String> = tree::exported_hashes(dest.path()).into_values().collect();
        got.sort();
        assert_eq!(got, phone.expected_export(), "iOS {ios}");
        // Selections read the same columns on every version.
        let albums = phone.lifeboat(&[
            "export-photos",
            "--dry-run",
            "--json",
            "--album",
            "Album 1",
            "--include-trashed",
            dest.path().to_str().unwrap(),
        ]);
        let albums: serde_json::Value = serde_json::from_slice(&albums.stdout).unwrap();
        assert!(
            albums["assets"].as_u64().unwrap() >= 3,
            "iOS {ios}: album selection: {albums}"
        );
        assert!(
            albums["assets"].as_u64().unwrap() < 20,
            "iOS {ios}: album selection: {albums}"
        );
    }
}

#[test]
fn selections_and_layouts() {
    let phone = Phone::paired(presets::every_kind("17.5"), |c| c);
    let dry = |extra: &[&str]| -> serde_json::Value {
        let dest = tempfile::tempdir().unwrap();
        let mut args = vec!["export-photos", "--dry-run", "--json", dest.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = phone.lifeboat(&args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)))
    };
    let all = dry(&[]);
    let count = |v: &serde_json::Value| v["assets"].as_u64().unwrap();
    let total = phone.assets.len() as u64;
    assert_eq!(count(&all), total - 2, "trashed are left out by default");
    assert_eq!(count(&dry(&["--include-trashed"])), total);
    assert_eq!(count(&dry(&["--exclude-hidden"])), total - 3);
    assert_eq!(count(&dry(&["--videos-only"])), 2);
    assert_eq!(count(&dry(&["--since", "2030-01-01"])), 0);
    let planned = |v: &serde_json::Value| -> Vec<String> {
        v["planned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["dest_path"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        planned(&dry(&["--layout", "device"]))
            .iter()
            .any(|p| p == "DCIM/100APPLE/IMG_0001.HEIC")
    );
    assert!(
        planned(&dry(&["--layout", "flat"]))
            .iter()
            .any(|p| p == "IMG_0001.HEIC")
    );
    assert!(!planned(&dry(&["--no-edited"])).iter().any(|p| p.contains("_edited")));
}

/// A second IMG_0001.HEIC with other bytes in another folder (the camera counter wrapped),
/// there from the start or added after the first of two flat exports: both copies survive,
/// the later one as IMG_0001 (1).HEIC.
fn twins_both_survive(twin_arrives_later: bool) {
    let phone = Phone::paired(presets::photos_only("17.5", 3), |c| c);
    let twin = phone.media().join("DCIM/101APPLE/IMG_0001.HEIC");
    let add_twin = || {
        std::fs::create_dir_all(twin.parent().unwrap()).unwrap();
        let bytes = fake_iphone::media::unique(fake_iphone::media::Format::Heic, "the other one", 10);
        std::fs::write(&twin, bytes).unwrap();
    };
    if !twin_arrives_later {
        add_twin();
    }
    let dest = tempfile::tempdir().unwrap();
    for run in 0..2 {
        if twin_arrives_later && run == 1 {
            add_twin();
        }
        let out = phone.lifeboat(&["export-photos", "--layout", "flat", dest.path().to_str().unwrap()]);
        assert_success(&out, "export");
    }
    let exported = tree::exported_hashes(dest.path());
    let first = sha_file(&phone.media().join("DCIM/100APPLE/IMG_0001.HEIC"));
    let second = sha_file(&twin);
    assert_eq!(exported.get("IMG_0001.HEIC"), Some(&first), "{exported:?}");
    assert_eq!(exported.get("IMG_0001 (1).HEIC"), Some(&second), "{exported:?}");
    assert_eq!(exported.len(), 4);
}

#[test]
fn same_names_with_different_content_both_survive() {
    twins_both_survive(false);
}

#[test]
fn a_twin_that_arrives_after_the_first_run_gets_a_free_name() {
    // Then only the manifest knows IMG_0001.HEIC is taken (the writer's own fallback, on
    // finding the file there, would name it IMG_0001 (2).HEIC).
    twins_both_survive(true);
}

#[test]
fn a_second_export_into_the_same_folder_waits_its_turn() {
    let phone = Phone::paired(presets::photos_only("17.5", 2), |c| c);
    let dest = tempfile::tempdir().unwrap();
    let held = transfer::photos::export::lock_destination(dest.path()).unwrap();
    let out = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_contains(&text(&out.stderr), "another lifeboat export is running");
    assert!(
        tree::exported_hashes(dest.path()).is_empty(),
        "the second run changed nothing"
    );
    drop(held);
    assert_success(
        &phone.lifeboat(&["export-photos", dest.path().to_str().unwrap()]),
        "after",
    );
}

#[test]
fn killed_at_random_points_loses_nothing() {
    // A slow link so that a run lasts long enough for kills to land inside it.
    let link = Link {
        latency: Duration::from_millis(1),
        bandwidth: Some(8_000_000),
    };
    let library = LibrarySpec {
        cloud_only: 0,
        trashed: 0,
        photo_padding: 250_000,
        video_padding: 600_000,
        ..presets::every_kind("17.5")
    };
    let phone = Phone::paired(library, |c| c.link(link));
    let want = phone.expected_export();
    // How long a whole run takes here; kills are spread over that span.
    let scratch = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    assert_success(
        &phone.lifeboat(&["export-photos", scratch.path().to_str().unwrap()]),
        "timing run",
    );
    let span = started.elapsed().as_millis() as u64;
    let mut rng = Xorshift64(0x5EED_1234);
    let mut killed_mid_copy = 0;
    for round in 0..20 {
        let dest = tempfile::tempdir().unwrap();
        // A kill time somewhere in a run, different every round.
        let delay = Duration::from_millis(rng.next() % span);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        phone.home.apply(&mut cmd);
        cmd.args([
            "--usbmux",
            &phone.fake.usbmux_address(),
            "export-photos",
            dest.path().to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL: no cleanup runs
        let _ = child.wait();
        // Whatever is under a final name is whole; temporaries start with a dot.
        let mut whole = 0;
        for (name, digest) in tree::exported_hashes(dest.path()) {
            if !name.rsplit('/').next().unwrap_or("").starts_with('.') {
                assert!(
                    want.contains(&digest),
                    "round {round}: {name} is not a whole phone file"
                );
                whole += 1;
            }
        }
        if whole > 0 && whole < want.len() {
            killed_mid_copy += 1;
        }
        let rerun = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap()]);
        assert_success(&rerun, &format!("round {round} rerun after a kill at {delay:?}"));
        let after = tree::exported_hashes(dest.path());
        assert!(
            after.keys().all(|k| !k.ends_with(".lifeboat-part")),
            "round {round}: temporaries left: {after:?}"
        );
        let mut got: Vec<String> = after.values().cloned().collect();
        got.sort();
        assert_eq!(
            got, want,
            "round {round}: after a kill at {delay:?}, nothing missing and nothing twice"
        );
        assert_eq!(sha256sum_check(dest.path(), "export"), want.len(), "round {round}");
    }
    assert!(
        killed_mid_copy >= 3,
        "only {killed_mid_copy} of 20 kills landed in the middle of copying"
    );
    eprintln!("{killed_mid_copy} of 20 kills landed in the middle of copying");
}
