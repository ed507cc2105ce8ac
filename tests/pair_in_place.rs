//! Commands that need the phone's trust ask for it themselves, as `pair` does, and carry on;
//! locked and denied phones get the same messages and exit codes as `pair` gives.

mod common;

use std::time::Duration;

use common::*;
use fake_iphone::TrustState;

#[test]
fn export_photos_alone_waits_for_trust_and_completes() {
    let phone = Phone::start(presets::photos_only("17.5", 3), |c| {
        c.state(TrustState::Untrusted).trust_after(Duration::from_secs(2))
    });
    let dest = tempfile::tempdir().unwrap();
    let out = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap(), "--json"]);
    assert_success(&out, "export-photos on a phone that has not trusted this computer");
    assert_contains(&text(&out.stderr), "Waiting for you to tap Trust");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["copied"], 3, "{summary:#}");
    assert!(phone.fake.is_paired(None));
    assert!(phone.home.lifeboat_records().join(format!("{UDID}.plist")).is_file());
}

#[test]
fn locked_and_denied_phones_say_so_as_pair_does() {
    let cases = [
        (TrustState::Locked, "Unlock it with its passcode"),
        (TrustState::Deny, "Don't Trust"),
    ];
    for (state, expected) in cases {
        for args in [vec!["info"], vec!["files", "ls", "/"]] {
            let phone = Phone::start(presets::photos_only("17.5", 1), |c| c.state(state));
            let out = phone.lifeboat(&args);
            assert_eq!(out.status.code(), Some(1), "{state:?} {args:?}: {}", text(&out.stderr));
            assert_contains(&text(&out.stderr), expected);
            assert!(
                !phone.home.lifeboat_records().join(format!("{UDID}.plist")).exists(),
                "no pair record is kept"
            );
        }
    }
}

#[test]
fn the_doctor_never_pairs_by_itself() {
    let phone = Phone::start(presets::photos_only("17.5", 1), |c| c);
    let out = phone.lifeboat(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!phone.fake.is_paired(None));
}
