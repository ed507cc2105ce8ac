//! A phone that cannot take several AFC requests at once (docs/protocol.md §3.6): the
//! simulator's one-at-a-time afcd drops the connection when a request arrives before the one
//! before it was answered. `export-photos` gets through all the same, one request at a time,
//! and says so once; `--afc-window 1` starts that way.

mod common;

use common::*;

fn export(phone: &Phone, extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dest = tempfile::tempdir().unwrap();
    let mut args = vec!["export-photos", dest.path().to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    (phone.lifeboat(&args), dest)
}

fn exported(dest: &tempfile::TempDir) -> Vec<String> {
    let mut got: Vec<String> = tree::exported_hashes(dest.path()).values().cloned().collect();
    got.sort();
    got
}

const NOTICE: &str = "did not cope with several AFC requests at once";
const FILE_NOTICE: &str = "refused some files while several were open";

#[test]
fn a_phone_that_takes_one_request_at_a_time_is_exported_whole() {
    let strict = Phone::paired(presets::photos_only("17.5", 12), |c| c.afc_one_at_a_time(true));

    let (out, dest) = export(&strict, &[]);
    assert_success(&out, "export-photos against a one-at-a-time afcd");
    let said = text(&out.stderr);
    assert_eq!(said.matches(NOTICE).count(), 1, "said once: {said}");
    assert_contains(&said, "--afc-window 1");
    assert_eq!(exported(&dest), strict.expected_export(), "every file, once");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_contains(&summary["notes"].to_string(), NOTICE);
    manifest_rows_have_files(dest.path(), "after the fallback");

    // Told beforehand, lifeboat never pipelines, so there is nothing to fall back from.
    let (out, dest) = export(&strict, &["--afc-window", "1"]);
    assert_success(&out, "export-photos --afc-window 1");
    assert!(!text(&out.stderr).contains(NOTICE), "{}", text(&out.stderr));
    assert_eq!(exported(&dest), strict.expected_export());

    // A phone that pipelines is never slowed down.
    let normal = Phone::paired(presets::photos_only("17.5", 12), |c| c);
    let (out, dest) = export(&normal, &[]);
    assert_success(&out, "export-photos against a normal afcd");
    assert!(!text(&out.stderr).contains(NOTICE), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains(FILE_NOTICE), "{}", text(&out.stderr));
    assert_eq!(exported(&dest), normal.expected_export());
}

/// A phone whose errors appear only with a window: its afcd refuses to open a second file
/// while one is open (NoResources). The files it refused are asked for again one file at a
/// time, and the run says so once; a second run has nothing to retry.
#[test]
fn files_refused_only_with_several_open_are_copied_one_at_a_time() {
    let strict = Phone::paired(presets::photos_only("17.5", 12), |c| c.afc_one_file_open(true));
    let dest = tempfile::tempdir().unwrap();
    let args = ["export-photos", dest.path().to_str().unwrap(), "--json"];
    let out = strict.lifeboat(&args);
    assert_success(&out, "export-photos against an afcd that keeps one file open");
    let said = text(&out.stderr);
    assert_eq!(said.matches(FILE_NOTICE).count(), 1, "said once: {said}");
    assert_eq!(exported(&dest), strict.expected_export(), "every file, once");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_contains(&summary["notes"].to_string(), FILE_NOTICE);
    assert_eq!(summary["copied"], 12, "both passes' copies are counted: {summary}");
    manifest_rows_have_files(dest.path(), "after the second pass");

    let out = strict.lifeboat(&args);
    assert_success(&out, "a second export-photos");
    assert!(!text(&out.stderr).contains(FILE_NOTICE), "{}", text(&out.stderr));
    assert_eq!(exported(&dest), strict.expected_export());
}

#[test]
fn the_window_is_checked() {
    let phone = Phone::paired(presets::photos_only("17.5", 1), |c| c);
    let (out, _dest) = export(&phone, &["--afc-window", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_contains(&text(&out.stderr), "--afc-window");
}

/// Without a window set, a walk of the photo folders keeps up to 128 GetFileInfo requests
/// in flight, not the 8 of a fetch's reads (capping it there made a no-op night over a large
/// library four times slower); `--afc-window N` caps it at N. Measured on a second run, which
/// only walks (nothing is left to copy). The phone answers after 20 ms, so whatever is sent
/// in the meantime is in flight.
#[test]
fn the_walk_keeps_its_own_window_unless_one_is_set() {
    let slow = |c: fake_iphone::PhoneConfig| {
        c.link(fake_iphone::Link {
            latency: std::time::Duration::from_millis(20),
            bandwidth: None,
        })
    };
    for (extra, check) in [
        (&[][..], (|most: usize| most > 8) as fn(usize) -> bool),
        (&["--afc-window", "4"][..], |most: usize| most <= 4),
    ] {
        let phone = Phone::paired(presets::photos_only("17.5", 120), slow);
        let dest = tempfile::tempdir().unwrap();
        let mut args = vec!["export-photos", dest.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        assert_success(&phone.lifeboat(&args), "export-photos");
        phone.fake.take_afc_most_in_flight(None);
        let out = phone.lifeboat(&args);
        assert_success(&out, "a second export-photos");
        assert_contains(&text(&out.stdout), "Copied 0 files");
        let most = phone.fake.take_afc_most_in_flight(None);
        assert!(check(most), "{extra:?}: {most} requests in flight at most");
    }
}
