//! Sessions with an old iPhone: the simulator's old-iOS mode serves only TLS 1.0 to 1.2 with
//! CBC suites and RSA key exchange, and below iOS 7 wants `ValidatePair` before a session
//! (docs/protocol.md §2.6). A new pair record is kept through the one path lifeboat keeps
//! them by, [`PairRecordStore::save_after_session`].
//!
//! Built with the `legacy-tls` feature (as `cargo test --workspace` builds it, the lifeboat
//! binary turning it on), the session, its values and a service work. Built without it
//! (`cargo test -p lockdown --test legacy_tls`, which `.ci/run` runs), the error names the
//! iOS version and the TLS, not the cable, and no pair record is left behind.

use std::time::Duration;

use fake_iphone::{FakeIphone, PhoneConfig, RunningFake};
use lockdown::message::{Reply, Request};
use lockdown::store::RecordSource;
use lockdown::{DeviceError, LockdownClient, PairRecord, PairRecordStore};
use usbmux::{Device, UsbmuxAddress, UsbmuxClient};

const UDID: &str = "00008110-001A2B3C4D5E6F70";

struct OldPhone {
    fake: RunningFake,
    mux: UsbmuxClient,
    device: Device,
    _media: tempfile::TempDir,
    /// lifeboat's own pair record folder, empty at the start.
    records: tempfile::TempDir,
}

impl OldPhone {
    fn start(ios: &str) -> OldPhone {
        let media = tempfile::tempdir().unwrap();
        let fake = FakeIphone::new()
            .phone(PhoneConfig::new(UDID, media.path()).ios(ios).tls_legacy_only(true))
            .start()
            .expect("start fake-iphone");
        let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap());
        let device = mux.list_devices().unwrap().into_iter().next().expect("one phone");
        OldPhone {
            fake,
            mux,
            device,
            _media: media,
            records: tempfile::tempdir().unwrap(),
        }
    }

    fn store(&self) -> PairRecordStore<'_> {
        PairRecordStore::with_dirs(&self.mux, Vec::new(), self.records.path().to_path_buf())
    }

    fn connect(&self) -> LockdownClient {
        LockdownClient::connect(&self.mux, &self.device).expect("lockdown")
    }

    /// The Trust dialog (tapped at once), which needs no session.
    fn pair(&self) -> PairRecord {
        let buid = self.mux.read_buid().unwrap();
        self.connect()
            .pair(&buid, "test-host", Duration::from_secs(10), |_| {})
            .expect("pairing itself needs no session")
    }

    /// Pairs as `lifeboat pair` does: the record is kept only if a session on it works.
    fn pair_and_keep(&self) -> (PairRecord, lockdown::Result<Vec<RecordSource>>) {
        let record = self.pair();
        let kept = self.store().save_after_session(&self.device, &record);
        (record, kept)
    }

    /// Records in lifeboat's folder and in the (simulated) usbmuxd.
    fn records_kept(&self) -> usize {
        let files = std::fs::read_dir(self.records.path()).map(|d| d.count()).unwrap_or(0);
        let in_daemon = self.mux.read_pair_record(UDID).unwrap().is_some();
        files + usize::from(in_daemon)
    }
}

#[cfg(feature = "legacy-tls")]
#[test]
fn an_old_iphone_pairs_and_serves_sessions_over_legacy_tls() {
    for ios in ["6.1.6", "8.4"] {
        let phone = OldPhone::start(ios);
        let (record, kept) = phone.pair_and_keep();
        let kept = kept.unwrap_or_else(|e| panic!("iOS {ios}: {e}"));
        assert_eq!(
            kept.len(),
            2,
            "iOS {ios}: kept by the daemon and in the folder: {kept:?}"
        );
        assert_eq!(phone.records_kept(), 2);

        let mut client = phone.connect();
        client
            .start_session(&record)
            .unwrap_or_else(|e| panic!("iOS {ios}: {e}"));
        // A value only a session may read, inside legacy TLS.
        let disk = client.get_value(Some("com.apple.disk_usage"), None).unwrap();
        assert!(disk.as_dictionary().unwrap().contains_key("TotalDataAvailable"));
        let afc = client.start_service("com.apple.afc", None).expect("StartService afc");
        drop(client.connect_service(&phone.mux, &afc).expect("connect to AFC"));
        // StopSession hands the connection back to plaintext, and a second session works.
        client.stop_session().expect("StopSession");
        assert_eq!(
            client.get_value(None, Some("ProductVersion")).unwrap().as_string(),
            Some(ios)
        );
        client
            .start_session(&record)
            .expect("a second session on the same connection");
        client.stop_session().unwrap();
        assert!(phone.fake.is_paired(None));
    }
}

#[cfg(not(feature = "legacy-tls"))]
#[test]
fn without_legacy_tls_an_old_iphone_is_named_and_leaves_no_record() {
    let phone = OldPhone::start("8.4");
    let (_, kept) = phone.pair_and_keep();
    let error = kept.expect_err("modern TLS cannot speak to an old iPhone");
    assert!(matches!(error, lockdown::Error::TlsRefused { .. }), "{error:?}");
    let said = error.to_string();
    for expected in ["(iOS 8.4) refused the secure session", "TLS 1.2 and 1.3", "legacy-tls"] {
        assert!(said.contains(expected), "{expected:?} is not in: {said}");
    }
    assert!(!said.to_lowercase().contains("check the cable"), "{said}");
    assert!(phone.fake.is_paired(None), "the phone itself trusted the computer");
    assert_eq!(
        phone.records_kept(),
        0,
        "no pair record is kept for a session that cannot work"
    );
}

/// The simulator below iOS 7 refuses a session that no `ValidatePair` on the connection
/// introduced, as lockdownd there wants it (plaintext requests only, so any build runs it).
#[test]
fn below_ios_7_a_session_needs_validate_pair_first() {
    let phone = OldPhone::start("6.1.6");
    let record = phone.pair();
    let start = Request::StartSession {
        host_id: Some(record.host_id.clone()),
        system_buid: Some(record.system_buid.clone()),
    };
    let error = phone.connect().call(&start).unwrap_err();
    assert_eq!(error.device_error(), Some(&DeviceError::InvalidHostId), "{error}");

    let mut client = phone.connect();
    let validate = Request::ValidatePair {
        pair_record: Some(record.public_dict()),
    };
    assert!(matches!(client.call(&validate), Ok(Reply::Done(_))));
    assert!(matches!(client.call(&start), Ok(Reply::StartSession { .. })));
}
