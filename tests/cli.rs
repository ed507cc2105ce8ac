//! The `lifeboat` command against the simulator: devices, info, pair in every state,
//! unpair, choosing among several phones, and the exit codes for no phone and no usbmuxd.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fake_iphone::{FakeIphone, PhoneConfig, TrustState};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn devices_info_pair_and_unpair() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let home = Home::new();

    let listed = lifeboat(&fake, &home, &["devices", "--json"]);
    assert_success(&listed, "devices --json");
    let devices = json(&listed);
    assert_eq!(devices.as_array().map(Vec::len), Some(1));
    let device = &devices[0];
    assert_eq!(device["udid"], UDID);
    assert_eq!(device["name"], "Ada's iPhone");
    assert_eq!(device["model"], "iPhone 14 Pro");
    assert_eq!(device["product_type"], "iPhone15,2");
    assert_eq!(device["ios_version"], "17.5");
    assert_eq!(device["connection"], "USB");
    assert_eq!(device["paired"], false);

    // A command that needs trust asks for it itself, then carries on.
    let unpaired = lifeboat(&fake, &home, &["info"]);
    assert_success(&unpaired, "info on an unpaired phone pairs in place");
    assert_contains(&text(&unpaired.stderr), "not paired with Ada's iPhone yet");
    assert_contains(&text(&unpaired.stdout), "Ada's iPhone");
    assert!(fake.is_paired(None));
    assert_success(&lifeboat(&fake, &home, &["unpair"]), "unpair after pairing in place");
    assert!(!fake.is_paired(None));

    let paired = lifeboat(&fake, &home, &["pair"]);
    assert_success(&paired, "pair");
    assert_contains(&text(&paired.stdout), "Paired with Ada's iPhone");
    assert!(fake.is_paired(None));
    let record = home.lifeboat_records().join(format!("{UDID}.plist"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&record).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(home.lifeboat_records()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let again = lifeboat(&fake, &home, &["pair"]);
    assert_success(&again, "pair when paired");
    assert_contains(&text(&again.stdout), "Already paired");

    assert_eq!(json(&lifeboat(&fake, &home, &["devices", "--json"]))[0]["paired"], true);
    let human = lifeboat(&fake, &home, &["devices"]);
    assert_success(&human, "devices");
    let line = text(&human.stdout).lines().nth(1).unwrap_or_default().to_string();
    for cell in [UDID, "Ada's iPhone", "iPhone 14 Pro", "17.5", "USB", "yes"] {
        assert!(line.contains(cell), "{cell} missing from {line:?}");
    }

    let info = lifeboat(&fake, &home, &["info", "--json"]);
    assert_success(&info, "info --json");
    let info_json = json(&info);
    assert_eq!(info_json["values"]["SerialNumber"], "F2LX0001Q1GH");
    assert_eq!(info_json["disk_usage"]["TotalDataAvailable"], 37_520_000_000u64);
    assert_eq!(info_json["battery"]["BatteryCurrentCapacity"], 82);
    let everything = text(&info.stdout) + &text(&info.stderr);
    assert!(
        !everything.contains("PRIVATE KEY") && !everything.contains("DevicePublicKey"),
        "no key material in output"
    );
    let info = lifeboat(&fake, &home, &["info"]);
    assert_success(&info, "info");
    let shown = text(&info.stdout);
    for expected in [
        "Name:     Ada's iPhone",
        "Model:    iPhone 14 Pro (iPhone15,2)",
        "iOS:      17.5 (21F79)",
        "Storage:  37.5 GB free of 128.0 GB",
        "Battery:  82% (charging)",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing from\n{shown}");
    }

    let unpaired = lifeboat(&fake, &home, &["unpair"]);
    assert_success(&unpaired, "unpair");
    assert!(!fake.is_paired(None), "the phone forgot this computer");
    assert!(!record.exists(), "the record is gone here too");
    // Forgotten for real: the next command has to ask for Trust again.
    let again = lifeboat(&fake, &home, &["info"]);
    assert_success(&again, "info after unpair");
    assert_contains(&text(&again.stderr), "not paired with Ada's iPhone yet");
}

#[test]
fn pairing_waits_for_trust_then_succeeds() {
    let (fake, _media) = fake_with(TrustState::Untrusted);
    let fake = Arc::new(fake);
    let home = Home::new();
    let tapper = {
        let fake = fake.clone();
        std::thread::spawn(move || {
            // Tap only once lifeboat has asked and the dialog is up, then let it ask again.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !fake.trust_dialog_shown(None) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(1500));
            fake.tap_trust(None)
        })
    };
    let out = lifeboat(&fake, &home, &["pair"]);
    assert!(tapper.join().unwrap());
    assert_success(&out, "pair after Trust");
    assert!(
        text(&out.stderr).contains("tap Trust"),
        "the user is told what to do: {}",
        text(&out.stderr)
    );
    assert!(fake.is_paired(None));
}

#[test]
fn locked_denied_and_ignored_pairing_fail_clearly() {
    let cases = [
        (TrustState::Locked, "Unlock it with its passcode"),
        (TrustState::Deny, "Don't Trust"),
    ];
    for (state, expected) in cases {
        let (fake, _media) = fake_with(state);
        let home = Home::new();
        let out = lifeboat(&fake, &home, &["pair"]);
        assert_eq!(out.status.code(), Some(1), "{state:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(expected), "{state:?}: {}", text(&out.stderr));
        assert!(!home.lifeboat_records().join(format!("{UDID}.plist")).exists());
    }
    let (fake, _media) = fake_with(TrustState::Untrusted);
    let out = lifeboat(&fake, &Home::new(), &["pair", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert_contains(&text(&out.stderr), "nobody tapped Trust");
}

#[test]
fn several_phones_need_a_choice() {
    let media = tempfile::tempdir().unwrap();
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).name("First"))
        .phone(PhoneConfig::new(UDID2, media.path()).name("Second").network(true))
        .start()
        .unwrap();
    let home = Home::new();
    let out = lifeboat(&fake, &home, &["info"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains("--device") && said.contains(UDID) && said.contains(UDID2) && said.contains("Wi-Fi"),
        "{said}"
    );

    let out = lifeboat(&fake, &home, &["pair", "--device", UDID2]);
    assert_success(&out, "pair --device");
    assert!(fake.is_paired(Some(UDID2)) && !fake.is_paired(Some(UDID)));
    let devices = json(&lifeboat(&fake, &home, &["devices", "--json"]));
    assert_eq!(devices[1]["connection"], "Wi-Fi");
    assert_eq!(devices[1]["paired"], true);

    let out = lifeboat(&fake, &home, &["info", "--device", "00000000-0000000000000000"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "No connected iPhone has the UDID");
}

#[test]
fn no_phone_and_no_usbmuxd_exit_2() {
    let fake = FakeIphone::new().start().unwrap();
    let home = Home::new();
    for args in [&["devices"][..], &["info"], &["pair"], &["files", "ls"]] {
        let out = lifeboat(&fake, &home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("No iPhone is connected"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = lifeboat(&fake, &home, &["devices", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out), serde_json::json!([]));

    // Asked for JSON, an error comes as JSON on stdout too, with the same exit code.
    let dest = home.path().join("photos");
    let out = lifeboat(&fake, &home, &["export-photos", "--json", dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let error = &json(&out)["error"];
    assert_contains(error["message"].as_str().unwrap_or_default(), "No iPhone is connected");
    assert_eq!(error["exit_code"], 2);
    let missing = home.path().join("no such folder");
    let out = lifeboat(&fake, &home, &["verify", "--json", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let message = json(&out)["error"]["message"].as_str().unwrap_or_default().to_string();
    assert_contains(&message, "does not exist");
    assert!(!message.contains("destination"), "{message}");

    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = nobody.local_addr().unwrap().to_string();
    drop(nobody);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.args(["--usbmux", &address, "devices"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "usbmuxd");
    assert!(!text(&out.stderr).contains("panicked"));

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.args(["--usbmux", "not an address", "devices"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "bad usbmuxd address");
}

#[test]
fn lifeboat_log_shows_the_libraries_own_log() {
    let fake = FakeIphone::new().start().unwrap();
    let home = Home::new();
    let with_log = |level: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        home.apply(&mut cmd);
        if let Some(level) = level {
            cmd.env("LIFEBOAT_LOG", level);
        }
        cmd.args(["--usbmux", &fake.usbmux_address(), "devices"]);
        text(&run(&mut cmd, Duration::from_secs(30)).stderr)
    };
    let said = with_log(Some("debug"));
    assert_contains(&said, "DEBUG");
    assert_contains(&said, "transport: usbmuxd (auto; an address was given");
    assert!(!with_log(None).contains("DEBUG"), "off unless asked for");
    assert_contains(&with_log(Some("loud")), "LIFEBOAT_LOG=loud is not a level");
}
