//! `lifeboat export-photos` against generated libraries: every original present lands with
//! the right SHA-256, for each iOS schema; a second run reads nothing; kills at random
//! points lose nothing; same-named files both survive; two runs at once do not mix.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use fake_iphone::library::{Asset, AssetKind, LibrarySpec, make_library};
use fake_iphone::{FakeIphone, Link, PhoneConfig, RunningFake};
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn spec(ios: &str) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos: 15,
        videos: 2,
        live: 3,
        edited: 2,
        cpl: 3,
        cloud_only: 2,
        trashed: 2,
        hidden: 1,
        albums: 2,
        truncated: 0,
        photo_padding: 20_000,
        video_padding: 60_000,
    }
}

struct Setup {
    fake: RunningFake,
    home: Home,
    media: tempfile::TempDir,
    assets: Vec<Asset>,
}

fn setup(spec: LibrarySpec, link: Link) -> Setup {
    let media = tempfile::tempdir().unwrap();
    let assets = make_library(media.path(), &spec).unwrap();
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).link(link))
        .start()
        .unwrap();
    let home = Home::new();
    assert_success(&lifeboat(&fake, &home, &["pair"]), "pair");
    Setup {
        fake,
        home,
        media,
        assets,
    }
}

/// SHA-256 of every file under `root` except lifeboat's own, by relative path.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if name == ".lifeboat" || name.ends_with("SHA256SUMS") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(name, sha(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// What must be exported: every present file of every asset that is not trashed.
fn expected(setup: &Setup) -> Vec<String> {
    let mut out: Vec<String> = setup
        .assets
        .iter()
        .filter(|a| a.kind != AssetKind::Trashed)
        .flat_map(|a| {
            a.files
                .iter()
                .map(|f| sha(&std::fs::read(setup.media.path().join(f)).unwrap()))
        })
        .collect();
    out.sort();
    out
}

/// `sha256sum -c` in every folder that has a SHA256SUMS file; returns the files it checked.
fn sha256sum_check(dest: &Path) -> usize {
    let Some(program) = peer("sha256sum") else { return 0 };
    let mut checked = 0;
    for entry in walk_dirs(dest) {
        if !entry.join("SHA256SUMS").is_file() {
            continue;
        }
        let out = run(
            Command::new(&program)
                .arg("-c")
                .arg("--strict")
                .arg("SHA256SUMS")
                .current_dir(&entry),
            Duration::from_secs(60),
        );
        assert_success(&out, &format!("sha256sum -c in {}", entry.display()));
        checked += text(&out.stdout).lines().filter(|l| l.ends_with(": OK")).count();
    }
    checked
}

fn walk_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        for entry in std::fs::read_dir(&out[i]).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with(".lifeboat") {
                out.push(path);
            }
        }
        i += 1;
    }
    out
}

#[test]
fn every_present_original_lands_once_with_its_hash() {
    let setup = setup(spec("17.5"), Link::default());
    let dest = tempfile::tempdir().unwrap();
    let out = lifeboat(
        &setup.fake,
        &setup.home,
        &["export-photos", dest.path().to_str().unwrap(), "--json"],
    );
    // Cloud-only originals are left, so the run reports exit 1 and says what to do.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cloud_only: Vec<&str> = summary["cloud_only"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let truth: Vec<&str> = setup
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

    let exported = tree(dest.path());
    let mut got: Vec<String> = exported.values().cloned().collect();
    got.sort();
    assert_eq!(
        got,
        expected(&setup),
        "exactly the present files of the non-trashed assets"
    );
    assert_eq!(summary["copied"].as_u64(), Some(exported.len() as u64));
    // Live Photo halves share a base name; edits sit beside their original.
    for asset in setup.assets.iter().filter(|a| a.kind == AssetKind::Live) {
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
    let first = setup.assets.iter().find(|a| a.kind == AssetKind::Photo).unwrap();
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
        sha256sum_check(dest.path()),
        exported.len(),
        "SHA256SUMS cover every file"
    );

    // A second run copies nothing and reads no file data from the phone.
    let served = setup.fake.file_bytes_served(None);
    let again = lifeboat(
        &setup.fake,
        &setup.home,
        &["export-photos", dest.path().to_str().unwrap(), "--json"],
    );
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["copied"], 0);
    assert_eq!(summary["already_there"].as_u64(), Some(exported.len() as u64));
    assert_eq!(setup.fake.file_bytes_served(None), served, "no file data was read");
    assert_eq!(tree(dest.path()), exported);
}

#[test]
fn every_ios_schema_exports() {
    for ios in ["13.7", "15.8", "17.6", "18.1"] {
        let setup = setup(spec(ios), Link::default());
        let dest = tempfile::tempdir().unwrap();
        let out = lifeboat(
            &setup.fake,
            &setup.home,
            &["export-photos", dest.path().to_str().unwrap(), "--json"],
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["source"], "Photos.sqlite", "iOS {ios}: {}", text(&out.stderr));
        let mut got: Vec<String> = tree(dest.path()).into_values().collect();
        got.sort();
        assert_eq!(got, expected(&setup), "iOS {ios}");
        // Selections read the same columns on every version.
        let albums = lifeboat(
            &setup.fake,
            &setup.home,
            &[
                "export-photos",
                "--dry-run",
                "--json",
                "--album",
                "Album 1",
                "--include-trashed",
                dest.path().to_str().unwrap(),
            ],
        );
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
    let setup = setup(spec("17.5"), Link::default());
    let dry = |extra: &[&str]| -> serde_json::Value {
        let dest = tempfile::tempdir().unwrap();
        let mut args = vec!["export-photos", "--dry-run", "--json", dest.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = lifeboat(&setup.fake, &setup.home, &args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out.stderr)))
    };
    let all = dry(&[]);
    let count = |v: &serde_json::Value| v["assets"].as_u64().unwrap();
    let total = setup.assets.len() as u64;
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
    let setup = setup(
        LibrarySpec {
            ios: "17.5".into(),
            photos: 3,
            ..Default::default()
        },
        Link::default(),
    );
    let twin = setup.media.path().join("DCIM/101APPLE/IMG_0001.HEIC");
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
        let out = lifeboat(
            &setup.fake,
            &setup.home,
            &["export-photos", "--layout", "flat", dest.path().to_str().unwrap()],
        );
        assert_success(&out, "export");
    }
    let exported = tree(dest.path());
    let first = sha(&std::fs::read(setup.media.path().join("DCIM/100APPLE/IMG_0001.HEIC")).unwrap());
    let second = sha(&std::fs::read(&twin).unwrap());
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
    let setup = setup(
        LibrarySpec {
            ios: "17.5".into(),
            photos: 2,
            ..Default::default()
        },
        Link::default(),
    );
    let dest = tempfile::tempdir().unwrap();
    let held = transfer::photos::export::lock_destination(dest.path()).unwrap();
    let out = lifeboat(
        &setup.fake,
        &setup.home,
        &["export-photos", dest.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("another lifeboat export is running"),
        "{}",
        text(&out.stderr)
    );
    assert!(tree(dest.path()).is_empty(), "the second run changed nothing");
    drop(held);
    assert_success(
        &lifeboat(
            &setup.fake,
            &setup.home,
            &["export-photos", dest.path().to_str().unwrap()],
        ),
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
        ..spec("17.5")
    };
    let setup = setup(library, link);
    let want = expected(&setup);
    // How long a whole run takes here; kills are spread over that span.
    let scratch = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    assert_success(
        &lifeboat(
            &setup.fake,
            &setup.home,
            &["export-photos", scratch.path().to_str().unwrap()],
        ),
        "timing run",
    );
    let span = started.elapsed().as_millis() as u64;
    let mut seed: u64 = 0x5EED_1234;
    let mut killed_mid_copy = 0;
    for round in 0..20 {
        let dest = tempfile::tempdir().unwrap();
        // xorshift: a kill time somewhere in a run, different every round.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % span);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        setup.home.apply(&mut cmd);
        cmd.args([
            "--usbmux",
            &setup.fake.usbmux_address(),
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
        for (name, digest) in tree(dest.path()) {
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
        let rerun = lifeboat(
            &setup.fake,
            &setup.home,
            &["export-photos", dest.path().to_str().unwrap()],
        );
        assert_success(&rerun, &format!("round {round} rerun after a kill at {delay:?}"));
        let after = tree(dest.path());
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
        assert_eq!(sha256sum_check(dest.path()), want.len(), "round {round}");
    }
    assert!(
        killed_mid_copy >= 3,
        "only {killed_mid_copy} of 20 kills landed in the middle of copying"
    );
    eprintln!("{killed_mid_copy} of 20 kills landed in the middle of copying");
}
