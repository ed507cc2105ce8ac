//! `lifeboat doctor` against simulated phones in each state it must tell apart: every
//! verdict, the advice and the exit code; and "unknown" for what a phone does not report.

mod common;

use common::*;
use fake_iphone::PhoneConfig;
use fake_iphone::icloud::{ICloudState, PhotosSync};
use fake_iphone::library::LibrarySpec;

/// A phone with little on it, so this computer's disk has room for it.
/// A phone small enough that any test machine has room for it, so the
/// "room on this computer" check stays quiet (data capacity 3 GB, 0.5 GB used).
fn small_phone(config: PhoneConfig) -> PhoneConfig {
    let mut config = config;
    config.disk_capacity = 4_000_000_000;
    config.disk_available = 2_500_000_000;
    config
}

fn healthy_icloud() -> ICloudState {
    ICloudState {
        photos: PhotosSync::On { last_sync_days: 0.1 },
        ..Default::default()
    }
}

/// Runs doctor with `--json`; returns the exit code and the document.
fn doctor(phone: &Phone) -> (Option<i32>, serde_json::Value) {
    let dest = phone.home.path().join("photos");
    let out = phone.lifeboat(&["doctor", "--json", "--dest", dest.to_str().unwrap()]);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}\n{}", text(&out.stdout), text(&out.stderr)));
    (out.status.code(), doc)
}

fn check<'a>(doc: &'a serde_json::Value, item: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == item)
        .unwrap_or_else(|| panic!("no check {item}: {doc:#}"))
}

fn assert_verdict(doc: &serde_json::Value, item: &str, verdict: &str, says: &str) {
    let found = check(doc, item);
    assert_eq!(found["verdict"], verdict, "{item}: {found:#}");
    let words = format!("{} {}", found["finding"], found["advice"]);
    assert_contains(&words, says);
    if verdict == "warning" {
        assert!(
            found["advice"].as_str().is_some_and(|a| !a.is_empty()),
            "{item} has advice"
        );
    }
}

#[test]
fn a_healthy_phone_passes_and_doctor_says_what_to_run() {
    let phone = Phone::paired(presets::photos_only("17.5", 3), |c| {
        small_phone(c).icloud(healthy_icloud())
    });
    let (code, doc) = doctor(&phone);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["warnings"], 0);
    assert_verdict(&doc, "iCloud Backup", "ok", "on");
    assert_verdict(&doc, "last iCloud backup", "ok", "yesterday");
    assert_verdict(&doc, "iCloud Photos", "ok", "last synced today");
    assert_verdict(&doc, "originals on the iPhone", "ok", "every original");
    assert_verdict(&doc, "battery", "ok", "82%, charging");
    assert_verdict(&doc, "iOS", "ok", "17.5");
    let next: Vec<&str> = doc["next"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(next.iter().any(|s| s.starts_with("lifeboat export-photos")), "{next:?}");
    assert!(next.contains(&"lifeboat backup"), "{next:?}");
    // The words a person reads.
    let dest = phone.home.path().join("photos");
    let out = phone.lifeboat(&["doctor", "--dest", dest.to_str().unwrap()]);
    assert_success(&out, "doctor");
    assert_contains(&text(&out.stdout), "What lifeboat can do now");
}

#[test]
fn each_icloud_failure_is_named_with_what_to_do() {
    type Tune = fn(PhoneConfig) -> PhoneConfig;
    let cases: [(&str, &str, &str, Tune); 4] = [
        ("iCloud Backup off", "iCloud Backup", "Settings", |c| {
            c.icloud(ICloudState {
                backup_enabled: false,
                last_backup_days: None,
                ..healthy_icloud()
            })
        }),
        (
            "the last iCloud backup 30 days old",
            "last iCloud backup",
            "30 days ago",
            |c| {
                c.icloud(ICloudState {
                    last_backup_days: Some(30.0),
                    ..healthy_icloud()
                })
            },
        ),
        ("storage nearly full", "iPhone storage", "Free storage", |c| {
            c.icloud(healthy_icloud()).disk_available(100_000_000)
        }),
        ("iCloud Photos stalled", "iCloud Photos", "has stalled", |c| {
            c.icloud(ICloudState {
                photos: PhotosSync::On { last_sync_days: 20.0 },
                ..healthy_icloud()
            })
        }),
    ];
    for (state, item, says, tune) in cases {
        let phone = Phone::paired(presets::photos_only("17.5", 2), |c| tune(small_phone(c)));
        let (code, doc) = doctor(&phone);
        assert_eq!(code, Some(1), "{state}: {doc:#}");
        assert_verdict(&doc, item, "warning", says);
        assert_eq!(doc["warnings"], 1, "{state}: only that one: {doc:#}");
    }
}

#[test]
fn optimised_originals_are_counted() {
    let phone = Phone::paired(
        LibrarySpec {
            cloud_only: 3,
            ..presets::photos_only("17.5", 4)
        },
        |c| small_phone(c).icloud(healthy_icloud()),
    );
    let (code, doc) = doctor(&phone);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_verdict(
        &doc,
        "originals on the iPhone",
        "warning",
        "3 originals are only in iCloud",
    );
    assert_verdict(
        &doc,
        "originals on the iPhone",
        "warning",
        "Download and Keep Originals",
    );
    // Their size, as Photos.sqlite records it.
    let recorded: u64 = phone
        .assets
        .iter()
        .filter(|a| !a.files.contains(&a.original))
        .map(|a| a.size)
        .sum();
    assert!(recorded > 0);
    assert_eq!(doc["phone"]["cloud_only_bytes"], recorded, "{doc:#}");
    assert_verdict(
        &doc,
        "originals on the iPhone",
        "warning",
        &format!(
            "3 originals are only in iCloud, {}",
            transfer::fs::space::human(recorded)
        ),
    );
}

#[test]
fn what_the_phone_does_not_report_is_unknown() {
    let phone = Phone::paired(presets::photos_only("17.5", 2), |c| {
        small_phone(c).icloud(ICloudState {
            last_backup_days: None,
            photos: PhotosSync::Missing,
            ..Default::default()
        })
    });
    let (code, doc) = doctor(&phone);
    assert_eq!(code, Some(0), "unknowns are not failures: {doc:#}");
    assert_verdict(&doc, "iCloud Photos", "unknown", "could not be read");
    assert_verdict(&doc, "last iCloud backup", "unknown", "did not report");
    assert_verdict(&doc, "last local backup", "unknown", "did not report");
}

#[test]
fn an_unpaired_phone_is_told_to_pair_and_changes_nothing() {
    let phone = Phone::start(presets::photos_only("17.5", 1), |c| {
        small_phone(c).icloud(healthy_icloud())
    });
    let (code, doc) = doctor(&phone);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_verdict(&doc, "paired", "warning", "tap Trust");
    assert_verdict(&doc, "iCloud Backup", "unknown", "did not say");
    assert_eq!(doc["next"][0], "lifeboat pair");
    assert!(!phone.fake.is_paired(None), "the doctor never pairs by itself");
}

/// A finished backup to this computer is what the phone reports as its last local backup.
#[test]
fn a_finished_backup_is_the_phones_last_local_backup() {
    let phone = Phone::paired(presets::photos_only("17.5", 2), |c| {
        small_phone(c).icloud(healthy_icloud())
    });
    let (_, doc) = doctor(&phone);
    assert_verdict(&doc, "last local backup", "unknown", "did not report");
    let dest = phone.home.path().join("backups");
    assert_success(&phone.lifeboat(&["backup", dest.to_str().unwrap()]), "lifeboat backup");
    let (_, doc) = doctor(&phone);
    assert_verdict(&doc, "last local backup", "ok", "today");
}
