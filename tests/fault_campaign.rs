//! The fault campaign: round after round, the simulated phone gets one random fault (the
//! connection cut after N bytes, the phone unplugged, a phone that stops answering, a bit
//! flipped in transit, a size reported wrong) and lifeboat is sometimes killed as well.
//! After each round the export is run again to completion, and the folder must hold every
//! original exactly once, whole: nothing lost, nothing partial under a final name, no
//! manifest row without its file, no damaged byte kept, `verify` and `sha256sum -c` clean.
//!
//! CI runs `LIFEBOAT_CAMPAIGN_ROUNDS` rounds (default 100, about a minute and a half); the ignored
//! test runs 400: `cargo test --test fault_campaign -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fake_iphone::library::LibrarySpec;
use fake_iphone::{Faults, Link, RunningFake};

const KINDS: [&str; 6] = ["drop", "detach", "stall", "corrupt", "wrong size", "kill only"];

/// Final-name files under `dest` (not lifeboat's own, not temporaries), by relative path.
fn final_files(dest: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in tree::files_if_readable(dest) {
        let name = tree::rel(dest, &entry);
        let base = name.rsplit('/').next().unwrap_or("");
        if name.starts_with(".lifeboat") || base == "SHA256SUMS" || base.starts_with('.') {
            continue;
        }
        out.insert(name, sha_file(&entry));
    }
    out
}

fn temporaries(dest: &Path) -> Vec<String> {
    tree::files_if_readable(dest)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".lifeboat-part"))
        .map(|p| p.display().to_string())
        .collect()
}

fn export_command(fake: &RunningFake, home: &Home, dest: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env("LIFEBOAT_DEVICE_TIMEOUT", "1")
        .arg("--usbmux")
        .arg(fake.usbmux_address())
        .args(["export-photos", "--verify-reads"])
        .arg(dest);
    cmd
}

#[derive(Default)]
struct Totals {
    rounds: usize,
    lifeboat_runs: usize,
    armed: BTreeMap<&'static str, usize>,
    fired: BTreeMap<&'static str, usize>,
    kills: usize,
    faulted_runs_failed: usize,
    corruptions_caught: usize,
    files_checked: usize,
}

fn campaign(rounds: usize, seed: u64) {
    let spec = LibrarySpec {
        photos: 8,
        live: 2,
        hidden: 1,
        photo_padding: 40_000,
        video_padding: 120_000,
        ..presets::one_of_each("17.5")
    };
    let link = Link {
        latency: Duration::from_micros(200),
        bandwidth: Some(40_000_000),
    };
    let phone = Phone::paired(spec, |c| c.link(link));
    let want = phone.expected_export();
    // Bytes one run reads (twice, with --verify-reads), so fault positions land inside it.
    let served_per_run: u64 = tree::files(phone.media())
        .iter()
        .map(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .sum::<u64>()
        * 2;
    let (fake, home) = (&phone.fake, &phone.home);

    // How long a clean run takes, to spread kills over it.
    let scratch = tempfile::tempdir().unwrap();
    let started = Instant::now();
    assert_success(
        &run(
            &mut export_command(fake, home, scratch.path()),
            Duration::from_secs(120),
        ),
        "timing run",
    );
    let span = started.elapsed().as_millis() as u64;

    let mut rng = Rng(seed);
    let mut totals = Totals::default();
    for round in 0..rounds {
        let dest = tempfile::tempdir().unwrap();
        let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
        let at = rng.below(served_per_run);
        let mut faults = Faults::default();
        match kind {
            "drop" => faults.drop_after = Some(at),
            "detach" => faults.detach_after = Some(at),
            "stall" => faults.stall_after = Some(at),
            "corrupt" => faults.corrupt_at = Some(at),
            "wrong size" => {
                let pattern = ["IMG_0003", ".MOV", "CPLAssets", "Mutations"][rng.below(4) as usize];
                let delta = [-1, 1, -1000, 4096][rng.below(4) as usize];
                faults.wrong_size = Some((pattern.into(), delta));
            }
            _ => {}
        }
        assert!(fake.arm(None, faults));
        *totals.armed.entry(kind).or_default() += 1;
        let kill = kind == "kill only" || rng.below(3) == 0;

        // The faulted run, killed at a random moment or left to finish (or fail).
        let mut cmd = export_command(fake, home, dest.path());
        let faulted: Option<Output> = if kill {
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = cmd.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(rng.below(span + 1)));
            let _ = child.kill();
            let _ = child.wait();
            totals.kills += 1;
            None
        } else {
            Some(run(&mut cmd, Duration::from_secs(120)))
        };
        totals.lifeboat_runs += 1;
        let fired = fake.faults_fired(None);
        for fault in &fired {
            *totals.fired.entry(fault).or_default() += 1;
        }
        if let Some(out) = &faulted
            && !out.status.success()
        {
            totals.faulted_runs_failed += 1;
        }

        // Whatever the fault did, what is under a final name is a whole phone file, and the
        // manifest names only files that are there with the recorded hash.
        for (name, digest) in final_files(dest.path()) {
            assert!(
                want.contains(&digest),
                "round {round} ({kind} at {at}, fired {fired:?}): {name} is not a whole, undamaged phone file"
            );
        }
        manifest_rows_have_files(dest.path(), &format!("round {round}"));

        // The phone behaves again (plugged back in if it was unplugged); run to completion.
        assert!(fake.arm(None, Faults::default()));
        fake.attach(None);
        let rerun = run(&mut export_command(fake, home, dest.path()), Duration::from_secs(120));
        totals.lifeboat_runs += 1;
        assert_success(
            &rerun,
            &format!("round {round} ({kind} at {at}, fired {fired:?}): rerun"),
        );

        let mut got: Vec<String> = final_files(dest.path()).into_values().collect();
        got.sort();
        assert_eq!(
            got, want,
            "round {round} ({kind} at {at}, fired {fired:?}): every original once, whole"
        );
        assert!(temporaries(dest.path()).is_empty(), "round {round}: temporaries left");
        assert_eq!(
            manifest_rows_have_files(dest.path(), &format!("round {round}")),
            want.len(),
            "round {round}: manifest rows"
        );
        let verify = lifeboat(fake, home, &["verify", dest.path().to_str().unwrap()]);
        totals.lifeboat_runs += 1;
        assert_success(&verify, &format!("round {round}: verify"));
        sha256sum_check(dest.path(), &format!("round {round}"));
        if fired.contains(&"corrupt") {
            totals.corruptions_caught += 1;
        }
        totals.files_checked += want.len();
        totals.rounds += 1;
    }

    eprintln!(
        "fault campaign: {} rounds, {} lifeboat runs, {} kills; faults armed {:?}, fired {:?}; \
         {} faulted runs reported failure; {} damaged transfers, none kept; {} files checked",
        totals.rounds,
        totals.lifeboat_runs,
        totals.kills,
        totals.armed,
        totals.fired,
        totals.faulted_runs_failed,
        totals.corruptions_caught,
        totals.files_checked
    );
    if rounds >= 30 {
        for fault in ["drop", "detach", "stall", "corrupt"] {
            assert!(
                totals.fired.get(fault).copied().unwrap_or(0) > 0,
                "the campaign never fired a {fault} fault: {:?}",
                totals.fired
            );
        }
    }
}

#[test]
fn fault_campaign() {
    let rounds = std::env::var("LIFEBOAT_CAMPAIGN_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    campaign(rounds, 0xC0FF_EE00_D15C_0001);
}

#[test]
#[ignore = "about 20 minutes; run by hand"]
fn fault_campaign_long() {
    campaign(400, 0x5EED_0000_0000_0400);
}
