//! Old iPhones (the simulator's old-iOS mode, docs/protocol.md §2.6): sessions speak only
//! TLS 1.0 to 1.2 with CBC suites and RSA key exchange, and below iOS 7 lockdownd wants
//! `ValidatePair` before `StartSession`. lifeboat with its `legacy-tls` feature (on by
//! default) pairs, reads values and exports photos; libimobiledevice and pymobiledevice3,
//! which rescue such phones too, work with the same simulated phone, so it is faithful to
//! what they expect of one. (Without the feature: crates/lockdown/tests/legacy_tls.rs.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use fake_iphone::PhoneConfig;

/// The last iOS of the iPhone 3GS and 4 (ValidatePair, TLS 1.0 for libimobiledevice) and
/// an iOS 8 (no ValidatePair).
const OLD_IOS: [&str; 2] = ["6.1.6", "8.4"];

fn old(ios: &str) -> impl FnOnce(PhoneConfig) -> PhoneConfig + '_ {
    move |c| c.ios(ios).tls_legacy_only(true)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[cfg(feature = "legacy-tls")]
#[test]
fn lifeboat_pairs_reads_values_and_exports_an_old_iphone() {
    for ios in OLD_IOS {
        let phone = Phone::start(presets::photos_only(ios, 3), old(ios));
        phone.pair();
        assert!(phone.home.lifeboat_records().join(format!("{UDID}.plist")).is_file());

        let info = phone.lifeboat(&["info", "--json"]);
        assert_success(&info, &format!("info on iOS {ios}"));
        let info = json(&info);
        assert_eq!(info["values"]["ProductVersion"], ios, "{info:#}");
        // Read inside the session: the domain a phone gives only over TLS.
        assert_eq!(info["disk_usage"]["TotalDataAvailable"], 37_520_000_000u64, "{info:#}");

        let dest = tempfile::tempdir().unwrap();
        let out = phone.lifeboat(&["export-photos", dest.path().to_str().unwrap(), "--json"]);
        assert_success(&out, &format!("export-photos on iOS {ios}"));
        let summary = json(&out);
        assert_eq!(summary["copied"], 3, "iOS {ios}: {summary:#}");
        assert_eq!(manifest_rows_have_files(dest.path(), "old iPhone export"), 3);
    }
}

/// Built without `legacy-tls` (`cargo test --no-default-features --features usb`): the error
/// names the iOS version and the TLS, not the cable, and no pair record is left behind.
#[cfg(not(feature = "legacy-tls"))]
#[test]
fn without_legacy_tls_an_old_iphone_is_named_and_leaves_no_record() {
    let phone = Phone::start(presets::photos_only("8.4", 1), old("8.4"));
    for args in [&["pair"][..], &["info"]] {
        let out = phone.lifeboat(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        let said = text(&out.stderr);
        assert_contains(&said, "(iOS 8.4) refused the secure session");
        assert_contains(&said, "TLS 1.2 and 1.3");
        assert!(!said.contains("Check the cable"), "{said}");
        let records = std::fs::read_dir(phone.home.lifeboat_records())
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(
            records, 0,
            "{args:?}: no pair record is kept for a session that cannot work"
        );
    }
}

/// Below iOS 7 afcd has no positioned reads (docs/protocol.md §3.2), so the simulator
/// refuses them as such a phone does; export does not need them.
#[cfg(feature = "legacy-tls")]
#[test]
fn below_ios_7_afcd_has_no_positioned_reads() {
    use usbmux::{UsbmuxAddress, UsbmuxClient};
    for (ios, positioned) in [("6.1.6", false), ("8.4", true)] {
        let phone = Phone::paired(presets::photos_only(ios, 1), old(ios));
        std::fs::write(phone.media().join("f.bin"), b"0123456789").unwrap();
        let mux = UsbmuxClient::new(UsbmuxAddress::parse(&phone.fake.usbmux_address()).unwrap());
        let device = mux.list_devices().unwrap().remove(0);
        let record = lockdown::PairRecordStore::with_dirs(&mux, Vec::new(), phone.home.lifeboat_records())
            .load(UDID)
            .unwrap()
            .expect("the record lifeboat pair kept")
            .0;
        let mut afc = afc::connect::connect(&mux, &device, &record).expect("AFC over a legacy session");
        let handle = afc.open("/f.bin", afc::codec::OpenMode::ReadOnly).unwrap();
        match afc.read_at(handle, 4, 3) {
            Ok(bytes) => assert!(positioned && bytes == b"456", "iOS {ios}: {bytes:?}"),
            Err(afc::client::AfcError::Status { status, .. }) => {
                assert!(
                    !positioned && status == afc::AfcStatus::OpNotSupported,
                    "iOS {ios}: {status}"
                )
            }
            Err(e) => panic!("iOS {ios}: {e}"),
        }
        assert_eq!(afc.read(handle, 4).unwrap(), b"0123", "iOS {ios}: plain reads work");
    }
}

fn tool(phone: &Phone, program: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(program);
    phone.home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", phone.fake.usbmux_address())
        .args(args);
    run(&mut cmd, Duration::from_secs(120))
}

#[test]
fn libimobiledevice_pairs_validates_and_reads_an_old_iphone() {
    let Some([ideviceinfo, idevicepair]) = peers(["ideviceinfo", "idevicepair"]) else {
        return;
    };
    for ios in OLD_IOS {
        let phone = Phone::start(presets::photos_only(ios, 1), old(ios));
        assert_success(
            &tool(&phone, &idevicepair, &["pair"]),
            &format!("idevicepair pair, iOS {ios}"),
        );
        assert_success(
            &tool(&phone, &idevicepair, &["validate"]),
            &format!("idevicepair validate, iOS {ios}"),
        );
        let disk = tool(&phone, &ideviceinfo, &["-q", "com.apple.disk_usage"]);
        assert_success(&disk, &format!("ideviceinfo -q com.apple.disk_usage, iOS {ios}"));
        assert_contains(&text(&disk.stdout), "TotalDataAvailable: 37520000000");
        // And lifeboat uses the pairing libimobiledevice made, through usbmuxd.
        #[cfg(feature = "legacy-tls")]
        assert_success(&phone.lifeboat(&["info"]), &format!("lifeboat info, iOS {ios}"));
    }
}

#[test]
fn pymobiledevice3_pairs_and_reads_an_old_iphone() {
    let Some(program) = peer("pymobiledevice3") else {
        return;
    };
    for ios in OLD_IOS {
        let phone = Phone::start(presets::photos_only(ios, 1), old(ios));
        let address = phone.fake.usbmux_address();
        let paired = tool(&phone, &program, &["lockdown", "pair"]);
        assert_success(&paired, &format!("pymobiledevice3 lockdown pair, iOS {ios}"));
        let info = tool(&phone, &program, &["lockdown", "info", "--usbmux", &address]);
        assert_success(&info, &format!("pymobiledevice3 lockdown info, iOS {ios}"));
        let values = json(&info);
        assert_eq!(values["UniqueDeviceID"], UDID);
        assert_eq!(values["ProductVersion"], ios);
    }
}
