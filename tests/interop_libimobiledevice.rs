//! Debian's libimobiledevice tools against the simulator. They work with real phones, so
//! when they work here the simulator speaks the real protocol.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::TrustState;

fn tool(
    fake: &fake_iphone::RunningFake,
    home: &Home,
    program: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut cmd = Command::new(program);
    home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", fake.usbmux_address()).args(args);
    run(&mut cmd, Duration::from_secs(60))
}

#[test]
fn idevice_tools_list_read_pair_and_validate() {
    let Some([idevice_id, ideviceinfo, idevicepair]) = peers(["idevice_id", "ideviceinfo", "idevicepair"]) else {
        return;
    };
    let (fake, _media) = fake_with(TrustState::Untrusted);
    let home = Home::new();

    let ids = tool(&fake, &home, &idevice_id, &["-l"]);
    assert_success(&ids, "idevice_id -l");
    assert_eq!(text(&ids.stdout).trim(), UDID);

    // Unpaired: the values lockdownd gives without a session.
    let simple = tool(&fake, &home, &ideviceinfo, &["-s", "-k", "ProductVersion"]);
    assert_success(&simple, "ideviceinfo -s");
    assert_eq!(text(&simple.stdout).trim(), "17.5");

    // Pairing waits for the Trust dialog; tap it while idevicepair asks.
    let pending = tool(&fake, &home, &idevicepair, &["pair"]);
    assert!(
        !pending.status.success(),
        "pair must not succeed before Trust is tapped"
    );
    assert_contains(&text(&pending.stdout), "accept the trust dialog");
    assert!(fake.tap_trust(None));
    let paired = tool(&fake, &home, &idevicepair, &["pair"]);
    assert_success(&paired, "idevicepair pair");
    assert_contains(&text(&paired.stdout), "SUCCESS");
    assert!(fake.is_paired(None));

    let validated = tool(&fake, &home, &idevicepair, &["validate"]);
    assert_success(&validated, "idevicepair validate");

    // A full session over TLS, then the disk_usage domain.
    let info = tool(&fake, &home, &ideviceinfo, &[]);
    assert_success(&info, "ideviceinfo");
    let info = text(&info.stdout);
    assert!(info.contains(&format!("UniqueDeviceID: {UDID}")), "{info}");
    assert_contains(&info, "DeviceName: Ada's iPhone");
    let disk = tool(&fake, &home, &ideviceinfo, &["-q", "com.apple.disk_usage"]);
    assert_success(&disk, "ideviceinfo -q com.apple.disk_usage");
    assert_contains(&text(&disk.stdout), "TotalDataAvailable: 37520000000");
}

#[test]
fn locked_and_denied_phones_refuse_idevicepair() {
    let Some(idevicepair) = peer("idevicepair") else {
        return;
    };
    for (state, expected) in [(TrustState::Locked, "passcode"), (TrustState::Deny, "denied")] {
        let (fake, _media) = fake_with(state);
        let home = Home::new();
        let out = tool(&fake, &home, &idevicepair, &["pair"]);
        assert!(!out.status.success());
        let said = text(&out.stdout).to_lowercase() + &text(&out.stderr).to_lowercase();
        assert!(said.contains(expected), "{state:?}: {said}");
        assert!(!fake.is_paired(None));
    }
}

#[test]
fn a_pairing_made_by_idevicepair_serves_lifeboat_and_back() {
    let Some([idevicepair, ideviceinfo]) = peers(["idevicepair", "ideviceinfo"]) else {
        return;
    };
    let (fake, _media) = fake_with(TrustState::Trusted);
    let home = Home::new();
    assert_success(&tool(&fake, &home, &idevicepair, &["pair"]), "idevicepair pair");
    // lifeboat finds the record through usbmuxd, where libimobiledevice saved it.
    let info = lifeboat(&fake, &home, &["info", "--json"]);
    assert_success(&info, "lifeboat info after idevicepair");

    // And a pairing made by lifeboat serves libimobiledevice.
    let (fake, _media) = fake_with(TrustState::Trusted);
    let home = Home::new();
    assert_success(&lifeboat(&fake, &home, &["pair"]), "lifeboat pair");
    let info = tool(&fake, &home, &ideviceinfo, &["-k", "DeviceName"]);
    assert_success(&info, "ideviceinfo after lifeboat pair");
    assert_eq!(text(&info.stdout).trim(), "Ada's iPhone");
}

/// A phone set up without the backup service: idevicebackup2 (1.3.0) must stop with its own
/// error and exit code, never a crash. It once died with SIGSEGV here: when notification_proxy
/// does not start, it goes on to use the service descriptor it never got. A real phone always
/// starts notification_proxy; mobilebackup2 is then refused as a phone refuses an unknown
/// service (`InvalidService`).
#[test]
fn idevicebackup2_fails_cleanly_when_the_phone_serves_no_backup() {
    let (Some(idevicepair), Some(idevicebackup2)) = (peer("idevicepair"), peer("idevicebackup2")) else {
        return;
    };
    let media = tempfile::tempdir().expect("tempdir");
    let no_backup = fake_iphone::BackupConfig {
        enabled: false,
        ..Default::default()
    };
    let fake = fake_iphone::FakeIphone::new()
        .phone(fake_iphone::PhoneConfig::new(UDID, media.path()).backup(no_backup))
        .start()
        .expect("start fake-iphone");
    let home = Home::new();
    assert_success(&tool(&fake, &home, &idevicepair, &["pair"]), "idevicepair pair");
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 temporary path");
    let out = tool(&fake, &home, &idevicebackup2, &["-u", UDID, "backup", dir]);
    let said = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "idevicebackup2 was killed by a signal: {said}"
    );
    assert!(
        !out.status.success(),
        "a backup without mobilebackup2 cannot succeed: {said}"
    );
    assert!(said.contains("ERROR"), "idevicebackup2 must say what failed: {said}");
    assert!(said.contains("com.apple.mobilebackup2"), "{said}");
}
