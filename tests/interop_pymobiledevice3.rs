//! pymobiledevice3 against the simulator: listing, reading values, and pairing through the
//! Trust dialog.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::TrustState;

fn pmd3(home: &Home, program: &std::path::Path, address: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    home.apply(&mut cmd);
    if let Some(address) = address {
        cmd.env("USBMUXD_SOCKET_ADDRESS", address);
    }
    cmd.args(args);
    cmd
}

#[test]
fn pymobiledevice3_lists_pairs_and_reads_values() {
    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    let (fake, _media) = fake_with(TrustState::Untrusted);
    let home = Home::new();
    let address = fake.usbmux_address();
    let limit = Duration::from_secs(120);

    let list = run(
        &mut pmd3(&home, &program, None, &["usbmux", "list", "--usbmux", &address]),
        limit,
    );
    assert_success(&list, "pymobiledevice3 usbmux list");
    let devices: serde_json::Value = serde_json::from_slice(&list.stdout).expect("usbmux list prints JSON");
    assert_eq!(devices[0]["UniqueDeviceID"], UDID);
    assert_eq!(devices[0]["ConnectionType"], "USB");
    assert_eq!(devices[0]["DeviceName"], "Ada's iPhone");
    assert_eq!(devices[0]["ProductVersion"], "17.5");

    // Pairing polls while the dialog is up; tap Trust after it has asked a few times.
    // (Its `pair` command has no --usbmux option, so it gets the address from the environment.)
    let mut pair = pmd3(&home, &program, Some(&address), &["lockdown", "pair"]);
    let pairing = std::thread::spawn(move || run(&mut pair, Duration::from_secs(120)));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !fake.trust_dialog_shown(None) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!fake.is_paired(None), "paired before Trust was tapped");
    assert!(fake.tap_trust(None));
    let paired = pairing.join().expect("pairing thread");
    assert_success(&paired, "pymobiledevice3 lockdown pair");
    assert!(fake.is_paired(None));
    let record = home
        .path()
        .join(".local/share/pymobiledevice3")
        .join(format!("{UDID}.plist"));
    assert!(record.is_file(), "pymobiledevice3 keeps its record at {record:?}");

    let info = run(
        &mut pmd3(&home, &program, None, &["lockdown", "info", "--usbmux", &address]),
        limit,
    );
    assert_success(&info, "pymobiledevice3 lockdown info");
    let values: serde_json::Value = serde_json::from_slice(&info.stdout).expect("lockdown info prints JSON");
    assert_eq!(values["UniqueDeviceID"], UDID);
    assert_eq!(values["ProductType"], "iPhone15,2");
    assert_eq!(values["SerialNumber"].as_str().map(str::len), Some(12), "{values}");

    // pymobiledevice3 also saved the record through usbmuxd, so lifeboat can use it.
    let ours = lifeboat(&fake, &home, &["info", "--json"]);
    assert_success(&ours, "lifeboat info with pymobiledevice3's pairing");
}
