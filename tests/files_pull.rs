//! Pulling a whole phone library: pymobiledevice3's `afc ls`/`afc pull` and lifeboat's
//! `files pull` against the simulator, byte for byte; and every AFC fault as a clear error
//! that leaves no partial file and nothing outside the destination.

mod common;

use std::process::Command;
use std::time::Duration;

use common::tree::hashes;
use common::*;
use fake_iphone::Faults;
use fake_iphone::library::LibrarySpec;

/// The library every case pulls, as the phone "Ada's iPhone" with `faults`, paired.
fn paired_phone(faults: Faults) -> Phone {
    let spec = LibrarySpec {
        photos: 15,
        cloud_only: 1,
        photo_padding: 150_000,
        video_padding: 400_000,
        ..presets::small("17.5")
    };
    Phone::paired(spec, |c| c.name("Ada's iPhone").faults(faults))
}

#[test]
fn pymobiledevice3_and_lifeboat_pull_the_same_bytes() {
    let phone = paired_phone(Faults::default());
    let (fake, home, media) = (&phone.fake, &phone.home, phone.media());
    let source = hashes(&media.join("DCIM"));
    assert!(source.len() > 20);

    let dest = tempfile::tempdir().unwrap();
    let ours = lifeboat(fake, home, &["files", "pull", "/DCIM", dest.path().to_str().unwrap()]);
    assert_success(&ours, "lifeboat files pull");
    assert_eq!(
        hashes(&dest.path().join("DCIM")),
        source,
        "lifeboat's copy is byte for byte"
    );
    // The device modification time is kept.
    let original = std::fs::metadata(media.join("DCIM/100APPLE/IMG_0001.HEIC"))
        .unwrap()
        .modified()
        .unwrap();
    let copied = std::fs::metadata(dest.path().join("DCIM/100APPLE/IMG_0001.HEIC"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(copied, original);

    let listing = lifeboat(fake, home, &["files", "ls", "/DCIM/100APPLE", "--long"]);
    assert_success(&listing, "files ls --long");
    assert!(
        text(&listing.stdout)
            .lines()
            .any(|l| l.starts_with('-') && l.ends_with("IMG_0001.HEIC")),
        "{}",
        text(&listing.stdout)
    );

    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    let address = fake.usbmux_address();
    let pmd3 = |args: &[&str]| {
        let mut cmd = Command::new(&program);
        home.apply(&mut cmd);
        cmd.args(args).args(["--usbmux", &address]);
        run(&mut cmd, Duration::from_secs(180))
    };
    // pymobiledevice3 finds lifeboat's pairing through usbmuxd.
    let ls = pmd3(&["afc", "ls", "/DCIM"]);
    assert_success(&ls, "pymobiledevice3 afc ls");
    assert_contains(&text(&ls.stdout), "100APPLE");
    let theirs = tempfile::tempdir().unwrap();
    let pulled = pmd3(&["afc", "pull", "/DCIM", theirs.path().to_str().unwrap()]);
    assert_success(&pulled, "pymobiledevice3 afc pull");
    assert_eq!(
        hashes(&theirs.path().join("DCIM")),
        source,
        "pymobiledevice3's copy is byte for byte"
    );
}

/// Runs `files pull` of the library under `faults` and checks what a fault may and may not do.
fn pull_with(faults: Faults, expect: &str) -> (Phone, tempfile::TempDir) {
    let phone = paired_phone(faults);
    let (fake, home, media) = (&phone.fake, &phone.home, phone.media());
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.args([
        "--usbmux",
        &fake.usbmux_address(),
        "files",
        "pull",
        "/",
        dest.to_str().unwrap(),
    ]);
    // The AFC client gives up on a silent phone after its reply timeout (30 s).
    let out = run(&mut cmd, Duration::from_secs(120));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{expect}: {stderr}");
    assert!(stderr.contains(expect), "{expect:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Every file under its final name is whole; no temporary file is left; nothing escaped.
    let source = hashes(media);
    for (name, digest) in hashes(&dest) {
        assert!(!name.contains(".lifeboat-part"), "temporary file left: {name}");
        assert_eq!(source.get(&name), Some(&digest), "{name} differs from the phone's copy");
    }
    let outside: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside,
        vec![std::ffi::OsString::from("dest")],
        "nothing written beside the destination"
    );
    (phone, outer)
}

#[test]
fn connection_faults_fail_clearly() {
    let (phone, _) = pull_with(
        Faults {
            drop_after: Some(1_000_000),
            ..Default::default()
        },
        "connection to the phone was lost",
    );
    assert_eq!(phone.fake.faults_fired(None), vec!["drop"]);
    let (phone, _) = pull_with(
        Faults {
            detach_after: Some(1_000_000),
            ..Default::default()
        },
        "connection to the phone was lost",
    );
    assert_eq!(phone.fake.faults_fired(None), vec!["detach"]);
}

#[test]
fn a_stalled_phone_times_out() {
    let (phone, _) = pull_with(
        Faults {
            stall_after: Some(500_000),
            ..Default::default()
        },
        "stopped answering",
    );
    assert_eq!(phone.fake.faults_fired(None), vec!["stall"]);
}

#[test]
fn bytes_damaged_in_transfer_are_caught_by_verify() {
    let phone = paired_phone(Faults {
        corrupt_at: Some(700_000),
        ..Default::default()
    });
    let (fake, home, media) = (&phone.fake, &phone.home, phone.media());
    let dest = tempfile::tempdir().unwrap();
    let out = lifeboat(
        fake,
        home,
        &["files", "pull", "--verify", "/DCIM", dest.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_contains(&text(&out.stderr), "damaged in transfer");
    assert_eq!(fake.faults_fired(None), vec!["corrupt"]);
    // What remains is exactly the phone's bytes; the damaged file is not there at all.
    let source = hashes(&media.join("DCIM"));
    let copied = hashes(&dest.path().join("DCIM"));
    assert_eq!(copied.len(), source.len() - 1);
    for (name, digest) in copied {
        assert_eq!(source.get(&name), Some(&digest), "{name}");
    }
    // Pulled again, the file arrives whole (the fault fired once).
    let again = lifeboat(
        fake,
        home,
        &["files", "pull", "--verify", "/DCIM", dest.path().to_str().unwrap()],
    );
    assert_success(&again, "second pull");
    assert_eq!(hashes(&dest.path().join("DCIM")), source);
}

#[test]
fn wrong_sizes_and_hostile_names_are_reported_per_file() {
    pull_with(
        Faults {
            wrong_size: Some(("IMG_0003".into(), 7)),
            ..Default::default()
        },
        "reported",
    );
    let (_, outer) = pull_with(
        Faults {
            hostile_listing: true,
            ..Default::default()
        },
        "skipped",
    );
    let dest = outer.path().join("dest");
    assert!(
        dest.join("DCIM/100APPLE/IMG_0001.HEIC").is_file(),
        "the safe files still arrive"
    );
    assert!(
        !dest.join("DCIM/100APPLE/img_0001.heic").exists(),
        "a case twin never overwrites"
    );
}
