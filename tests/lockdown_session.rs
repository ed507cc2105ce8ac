//! The usbmux and lockdown client crates against the simulator: sessions, the TLS hand-back
//! to plaintext, services, pairing in every state, and device events.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fake_iphone::{FakeIphone, PhoneConfig, TrustState};
use lockdown::{DeviceError, Error, LockdownClient, PairingProgress};
use usbmux::{Event, UsbmuxAddress, UsbmuxClient};

fn mux(fake: &fake_iphone::RunningFake) -> UsbmuxClient {
    UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap())
}

fn connect(mux: &UsbmuxClient) -> LockdownClient {
    let device = mux.list_devices().unwrap().into_iter().next().expect("one phone");
    LockdownClient::connect(mux, &device).expect("lockdown")
}

fn pair(client: &mut LockdownClient, mux: &UsbmuxClient) -> lockdown::Result<lockdown::PairRecord> {
    let buid = mux.read_buid().unwrap();
    client.pair(&buid, "test-host", Duration::from_secs(10), |_| {})
}

#[test]
fn session_values_services_and_plaintext_after_stop() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let mux = mux(&fake);
    let mut client = connect(&mux);

    // Before a session only identifying values are readable.
    assert_eq!(
        client.get_value(None, Some("ProductVersion")).unwrap().as_string(),
        Some("17.5")
    );
    let err = client.get_value(Some("com.apple.disk_usage"), None).unwrap_err();
    assert_eq!(err.device_error(), Some(&DeviceError::GetProhibited), "{err}");
    let err = client.get_value(None, Some("NoSuchKey")).unwrap_err();
    assert_eq!(err.device_error(), Some(&DeviceError::MissingValue));

    let record = pair(&mut client, &mux).expect("pair");
    assert!(record.escrow_bag.is_some());
    client.start_session(&record).expect("session");
    let disk = client.get_value(Some("com.apple.disk_usage"), None).unwrap();
    assert_eq!(
        disk.as_dictionary().unwrap()["TotalDataAvailable"].as_unsigned_integer(),
        Some(37_520_000_000)
    );
    let all = client.get_value(None, None).unwrap();
    assert_eq!(all.as_dictionary().unwrap()["UniqueDeviceID"].as_string(), Some(UDID));

    let afc = client.start_service("com.apple.afc", None).expect("StartService afc");
    assert!(afc.port >= 49152 && !afc.ssl, "{afc:?}");
    let err = client.start_service("com.apple.nonexistent", None).unwrap_err();
    assert_eq!(err.device_error(), Some(&DeviceError::InvalidService));

    // StopSession returns the same connection to plaintext; a second session works on it.
    client.stop_session().expect("stop");
    assert_eq!(client.query_type().unwrap(), lockdown::LOCKDOWN_TYPE);
    client
        .start_session(&record)
        .expect("second session on the same connection");
    client.stop_session().unwrap();

    // The started service answers AFC on its port, once.
    let mut stream = client.connect_service(&mux, &afc).expect("AFC connection");
    std::io::Write::write_all(&mut stream, &afc::Request::GetDeviceInfo.encode(7)).unwrap();
    let (header, body) = afc::wire::read_packet(&mut stream, 1 << 20).unwrap().expect("a reply");
    assert_eq!(header.packet_num, 7);
    let afc::Reply::Data(payload) = afc::Reply::decode(header.operation, body).unwrap() else {
        panic!("not Data")
    };
    let info = afc::kv::parse_pairs(&payload).unwrap();
    assert!(
        info.contains(&("Model".to_string(), "iPhone15,2".to_string())),
        "{info:?}"
    );
    let err = client
        .connect_service(&mux, &afc)
        .err()
        .expect("a service port serves one connection");
    assert!(
        matches!(err, Error::Usbmux(usbmux::Error::ConnectionRefused { .. })),
        "{err}"
    );
}

#[test]
fn pairing_waits_for_trust_and_reports_progress() {
    let (fake, _media) = fake_with(TrustState::Untrusted);
    let fake = Arc::new(fake);
    let mux = mux(&fake);
    let mut client = connect(&mux);
    let polls = Arc::new(Mutex::new(0));
    let tapper = {
        let (fake, polls) = (fake.clone(), polls.clone());
        move |_: PairingProgress| {
            let mut n = polls.lock().unwrap();
            *n += 1;
            if *n == 2 {
                fake.tap_trust(None);
            }
        }
    };
    let buid = mux.read_buid().unwrap();
    let record = client
        .pair(&buid, "test-host", Duration::from_secs(20), tapper)
        .expect("pair after tap");
    assert_eq!(*polls.lock().unwrap(), 2, "asked again until Trust was tapped");
    client.start_session(&record).expect("session with the new record");
}

#[test]
fn pairing_refusals_are_typed() {
    let (fake, _media) = fake_with(TrustState::Locked);
    let mux_client = mux(&fake);
    let err = pair(&mut connect(&mux_client), &mux_client).unwrap_err();
    assert!(matches!(err, Error::Locked), "{err}");
    assert!(err.to_string().contains("Unlock"), "{err}");

    let (fake, _media) = fake_with(TrustState::Deny);
    let mux_client = mux(&fake);
    let err = pair(&mut connect(&mux_client), &mux_client).unwrap_err();
    assert!(matches!(err, Error::PairingDenied), "{err}");

    let (fake, _media) = fake_with(TrustState::Untrusted);
    let mux_client = mux(&fake);
    let buid = mux_client.read_buid().unwrap();
    let err = connect(&mux_client)
        .pair(&buid, "h", Duration::from_millis(1500), |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::PairingTimeout(_)), "{err}");
    assert!(!fake.is_paired(None));
}

#[test]
fn a_revoked_pairing_says_so() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let mux = mux(&fake);
    let mut client = connect(&mux);
    let record = pair(&mut client, &mux).unwrap();
    client.unpair(&record).expect("unpair");
    let err = connect(&mux).start_session(&record).unwrap_err();
    assert!(matches!(err, Error::PairingRevoked { .. }), "{err}");
    // The library says what to do in the phone's terms; the command line names the command.
    assert!(err.to_string().contains("Pair again and tap Trust"), "{err}");
    assert!(err.needs_pairing());
}

#[test]
fn listen_reports_attach_detach_and_paired() {
    let media = tempfile::tempdir().unwrap();
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()))
        .phone(PhoneConfig::new(UDID2, media.path()).network(true))
        .start()
        .unwrap();
    let mux = mux(&fake);
    let devices = mux.list_devices().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[1].connection_label(), "Wi-Fi");

    let mut listener = mux.listen().unwrap();
    let wait = Some(Duration::from_secs(5));
    let mut attached = Vec::new();
    for _ in 0..2 {
        match listener.next_event(wait).unwrap() {
            Some(Event::Attached(device)) => attached.push(device.udid),
            other => panic!("expected Attached, got {other:?}"),
        }
    }
    assert_eq!(attached, vec![UDID.to_string(), UDID2.to_string()]);

    let first_id = devices[0].device_id;
    assert!(fake.detach(Some(UDID)));
    assert_eq!(
        listener.next_event(wait).unwrap(),
        Some(Event::Detached { device_id: first_id })
    );
    assert_eq!(mux.list_devices().unwrap().len(), 1);
    let err = mux.connect(first_id, usbmux::LOCKDOWN_PORT).unwrap_err();
    assert!(matches!(err, usbmux::Error::NoSuchDevice(_)), "{err}");

    assert!(fake.attach(Some(UDID)));
    let Some(Event::Attached(back)) = listener.next_event(wait).unwrap() else {
        panic!("no Attached")
    };
    assert_ne!(back.device_id, first_id, "a replugged phone gets a new device id");

    mux.save_pair_record(UDID, Some(back.device_id), b"record").unwrap();
    assert_eq!(
        listener.next_event(wait).unwrap(),
        Some(Event::Paired {
            device_id: back.device_id
        })
    );
    assert_eq!(mux.read_pair_record(UDID).unwrap().as_deref(), Some(&b"record"[..]));
    mux.delete_pair_record(UDID).unwrap();
    assert_eq!(mux.read_pair_record(UDID).unwrap(), None);
    assert_eq!(listener.next_event(Some(Duration::from_millis(200))).unwrap(), None);
}

#[test]
fn unplugging_mid_session_is_an_error_not_a_hang() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let mux = mux(&fake);
    let mut client = connect(&mux);
    let record = pair(&mut client, &mux).unwrap();
    client.start_session(&record).unwrap();
    assert!(fake.detach(None));
    let err = client.get_value(None, Some("DeviceName")).unwrap_err();
    assert!(
        matches!(err, Error::Io(_) | Error::Protocol(_) | Error::Tls(_)),
        "{err}"
    );
}
