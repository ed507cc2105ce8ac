//! `--transport`: the daemon, USB directly, or auto. No test machine has an iPhone on its
//! USB bus, so over USB every command must end in "no phone" (exit 2) and say how it
//! looked, never a panic; the daemon paths run against the simulator or a dead address.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use fake_iphone::TrustState;

/// lifeboat with an isolated home and no daemon address from the environment.
fn bare(home: &Home, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env_remove("LIFEBOAT_TRANSPORT").args(args);
    run(&mut cmd, Duration::from_secs(60))
}

/// A Unix socket path where nothing listens.
fn dead_address(home: &Home) -> String {
    home.path().join("no-usbmuxd-here").display().to_string()
}

fn assert_no_phone_via(out: &Output, via: &str, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(stderr.contains("No iPhone is connected"), "{what}: {stderr}");
    assert!(
        stderr.contains(via),
        "{what} should say it looked via {via:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn usb_with_no_phone_says_so_and_exits_2() {
    let home = Home::new();
    let out = bare(&home, &["--transport", "usb", "devices"]);
    assert_no_phone_via(&out, "USB directly", "devices over USB");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));

    let out = bare(&home, &["--transport", "usb", "devices", "--json"]);
    assert_no_phone_via(&out, "USB directly", "devices --json over USB");
    assert_eq!(text(&out.stdout).trim(), "[]");

    for args in [&["info"][..], &["pair"], &["files", "ls"]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        home.apply(&mut cmd);
        cmd.env("LIFEBOAT_TRANSPORT", "usb").args(args);
        let out = run(&mut cmd, Duration::from_secs(60));
        assert_no_phone_via(&out, "USB directly", &format!("LIFEBOAT_TRANSPORT=usb {args:?}"));
    }
    // Nothing was written for a phone that is not there.
    assert!(!home.lifeboat_records().exists());
}

/// What rusbmux can say when it lists the bus (docs/usb-transport.md §4): a line about each
/// Apple device, or about a bus it cannot read. On a machine with a readable bus and no
/// Apple device it has nothing to say, and `None` is the answer.
fn rusbmux_listing_line() -> Option<&'static str> {
    let bus = std::path::Path::new("/sys/bus/usb/devices");
    let Ok(devices) = std::fs::read_dir(bus) else {
        return Some("nusb list devices failed");
    };
    let apple = devices
        .flatten()
        .any(|device| std::fs::read_to_string(device.path().join("idVendor")).is_ok_and(|id| id.trim() == "05ac"));
    apple.then_some("Found an Apple device")
}

#[test]
fn lifeboat_log_shows_rusbmuxs_own_lines() {
    let home = Home::new();
    let with_log = |level: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        home.apply(&mut cmd);
        cmd.env_remove("LIFEBOAT_TRANSPORT").env_remove("LIFEBOAT_LOG");
        if let Some(level) = level {
            cmd.env("LIFEBOAT_LOG", level);
        }
        cmd.args(["--transport", "usb", "devices"]);
        text(&run(&mut cmd, Duration::from_secs(60)).stderr)
    };
    let said = with_log(Some("debug"));
    assert_contains(&said, "transport: USB directly");
    match rusbmux_listing_line() {
        Some(line) => {
            assert_contains(&said, "rusbmux::usb_backend::nusb");
            assert_contains(&said, line);
        }
        // Nothing of rusbmux's to see here; this machine's CI has no USB bus, and it is
        // checked there.
        None => eprintln!("this machine's USB bus has no Apple device: rusbmux lists silently"),
    }
    assert!(!with_log(None).contains("rusbmux"), "off unless asked for");
    assert!(!with_log(Some("warn")).contains("DEBUG"), "the level is kept");
}

#[test]
fn auto_keeps_to_a_daemon_address_the_user_gave() {
    let home = Home::new();
    let dead = dead_address(&home);
    for args in [
        vec!["--transport", "auto", "--usbmux", &dead, "devices"],
        vec!["--transport", "daemon", "--usbmux", &dead, "devices"],
    ] {
        let out = bare(&home, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach usbmuxd at UNIX:") && stderr.contains("no-usbmuxd-here"),
            "{args:?}: {stderr}"
        );
    }

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", &dead).arg("devices");
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "cannot reach usbmuxd");

    // With USB asked for, the environment's daemon address is beside the point...
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", &dead)
        .args(["--transport", "usb", "devices"]);
    assert_no_phone_via(
        &run(&mut cmd, Duration::from_secs(30)),
        "USB directly",
        "usb with the variable set",
    );
    // ...but a flag naming a daemon contradicts it.
    let out = bare(&home, &["--transport", "usb", "--usbmux", &dead, "devices"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "--transport usb does not use");

    let out = bare(&home, &["--transport", "bluetooth", "devices"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&text(&out.stderr), "possible values: daemon, usb, auto");
}

/// Auto probes the platform's default address, which a test cannot move: whichever way
/// this machine is, the answer must match it.
#[cfg(target_os = "linux")]
#[test]
fn auto_uses_usb_when_no_daemon_answers_at_the_default_address() {
    let home = Home::new();
    let out = bare(&home, &["devices"]);
    let daemon_runs = std::os::unix::net::UnixStream::connect("/var/run/usbmuxd").is_ok();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if daemon_runs {
        assert!(
            out.status.code() == Some(0) || stderr.contains("usbmuxd at UNIX:/var/run/usbmuxd"),
            "{stderr}"
        );
    } else {
        assert_no_phone_via(
            &out,
            "USB directly, as no usbmuxd daemon answered at UNIX:/var/run/usbmuxd",
            "devices with auto",
        );
    }
}

#[test]
fn devices_names_the_daemon_it_went_through() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let home = Home::new();
    let human = lifeboat(&fake, &home, &["devices"]);
    assert_success(&human, "devices");
    let stdout = text(&human.stdout);
    let expected = format!("Transport: usbmuxd at {}", fake.usbmux_address());
    assert!(
        stdout.lines().any(|l| l.starts_with(&expected)),
        "{expected:?} missing from\n{stdout}"
    );

    let listed = lifeboat(&fake, &home, &["devices", "--json"]);
    assert_success(&listed, "devices --json");
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(rows[0]["transport"], "usbmuxd");
}
