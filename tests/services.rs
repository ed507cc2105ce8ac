//! lockdown's generic service opener against the simulator's service registry: a service a
//! test registers, array frames in binary (as DeviceLink sends them), the escrow bag on a
//! locked phone, the shared link model, and names no phone serves.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_iphone::{FakeIphone, Link, PhoneConfig, Service, ServiceContext};
use lockdown::codec::{Format, MAX_FRAME};
use lockdown::{DeviceError, Error, LockdownClient, OpenOptions, PairRecord, wire};
use plist::Value;
use usbmux::{Device, UsbmuxAddress, UsbmuxClient, UsbmuxStream};

const ECHO: &str = "com.example.echo";

/// Sends every frame back in binary, through the phone's link and fault models.
struct Echo;

impl Service for Echo {
    fn name(&self) -> &'static str {
        ECHO
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let mut stream = context.linked(stream);
        while let Ok(Some(message)) = wire::read_frame(&mut stream, MAX_FRAME) {
            stream.request_arrived();
            if wire::write_frame(&mut stream, &message, Format::Binary).is_err() {
                return;
            }
        }
    }
}

fn start(
    link: Link,
) -> (
    fake_iphone::RunningFake,
    UsbmuxClient,
    Device,
    PairRecord,
    tempfile::TempDir,
) {
    let media = tempfile::tempdir().expect("tempdir");
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).link(link))
        .service(Echo)
        .start()
        .expect("start fake-iphone");
    let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap());
    let device = mux.list_devices().unwrap().into_iter().next().expect("one phone");
    let mut lockdown = LockdownClient::connect(&mux, &device).expect("lockdown");
    let buid = mux.read_buid().unwrap();
    let record = lockdown
        .pair(&buid, "test-host", Duration::from_secs(10), |_| {})
        .expect("pair");
    (fake, mux, device, record, media)
}

fn device_link_message() -> Value {
    Value::Array(vec!["DLMessageVersionExchange".into(), 400u64.into(), 0u64.into()])
}

#[test]
fn a_registered_service_opens_and_carries_array_frames() {
    let latency = Duration::from_millis(60);
    let (_fake, mux, device, record, _media) = start(Link {
        latency,
        bandwidth: None,
    });
    let mut stream = lockdown::service::open(&mux, &device, &record, ECHO, OpenOptions::default()).expect("open echo");
    let sent = Instant::now();
    wire::write_frame(&mut stream, &device_link_message(), Format::Xml).unwrap();
    let echoed = wire::read_frame(&mut stream, MAX_FRAME).unwrap().expect("a reply");
    assert_eq!(echoed, device_link_message());
    assert!(sent.elapsed() >= latency, "the link's latency applies to every service");

    let err = lockdown::service::open(
        &mux,
        &device,
        &record,
        "com.apple.mobile.house_arrest",
        OpenOptions::default(),
    )
    .err()
    .expect("nothing serves house_arrest");
    assert_eq!(err.device_error(), Some(&DeviceError::InvalidService), "{err}");
}

/// A service connection outlives usbmuxd's idle limit for control connections: pymobiledevice3
/// holds AFC and notification_proxy silent through a whole backup, and lost them ("Connection
/// was terminated abruptly") when the backup took longer than that limit.
#[test]
fn a_quiet_service_connection_stays_open_past_the_control_idle_limit() {
    let idle = Duration::from_millis(200);
    let media = tempfile::tempdir().expect("tempdir");
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()))
        .service(Echo)
        .control_idle(idle)
        .start()
        .expect("start fake-iphone");
    let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap());
    let device = mux.list_devices().unwrap().into_iter().next().expect("one phone");
    let mut lockdown = LockdownClient::connect(&mux, &device).expect("lockdown");
    let record = lockdown
        .pair(&mux.read_buid().unwrap(), "test-host", Duration::from_secs(10), |_| {})
        .expect("pair");
    let mut stream = lockdown::service::open(&mux, &device, &record, ECHO, OpenOptions::default()).expect("open echo");

    // A control connection that says nothing is dropped after the limit...
    let mut control = UsbmuxStream::connect(&UsbmuxAddress::parse(&fake.usbmux_address()).unwrap()).unwrap();
    control.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut control, &mut byte).unwrap_or(0), 0, "dropped");

    // ...and the service connection, quiet as long, still answers.
    std::thread::sleep(idle * 3);
    wire::write_frame(&mut stream, &device_link_message(), Format::Xml).unwrap();
    let echoed = wire::read_frame(&mut stream, MAX_FRAME)
        .unwrap()
        .expect("a reply, not a hang-up");
    assert_eq!(echoed, device_link_message());
}

/// mobilebackup2 starts only with the pair record's escrow bag, as on a phone
/// (docs/backup.md §1.1); with it, DeviceLink's version exchange comes first (§1.2).
#[test]
fn mobilebackup2_needs_the_escrow_bag() {
    let (_fake, mux, device, record, _media) = start(Link::default());
    let backup = "com.apple.mobilebackup2";
    let err = lockdown::service::open(&mux, &device, &record, backup, OpenOptions::default())
        .err()
        .expect("refused without the escrow bag");
    assert!(
        matches!(err, Error::Locked) || err.device_error() == Some(&DeviceError::PasswordProtected),
        "{err}"
    );
    let mut stream = lockdown::service::open(&mux, &device, &record, backup, OpenOptions::default().with_escrow_bag())
        .expect("the escrow bag opens it");
    let first = wire::read_frame(&mut stream, MAX_FRAME)
        .unwrap()
        .expect("a version exchange");
    let items = first.as_array().expect("DeviceLink messages are arrays");
    assert_eq!(items[0].as_string(), Some("DLMessageVersionExchange"));
}

#[test]
fn the_escrow_bag_opens_services_on_a_locked_phone() {
    let (fake, mux, device, record, _media) = start(Link::default());
    assert!(fake.set_locked(None, true));
    let np = "com.apple.mobile.notification_proxy";
    let err = lockdown::service::open(&mux, &device, &record, np, OpenOptions::default())
        .err()
        .expect("locked");
    assert!(matches!(err, Error::Locked), "{err}");

    let mut stream = lockdown::service::open(&mux, &device, &record, np, OpenOptions::default().with_escrow_bag())
        .expect("the escrow bag unlocks it");
    let mut shutdown = plist::Dictionary::new();
    shutdown.insert("Command".into(), "Shutdown".into());
    wire::write_frame(&mut stream, &Value::Dictionary(shutdown), Format::Xml).unwrap();
    let reply = wire::read_frame(&mut stream, MAX_FRAME).unwrap().expect("ProxyDeath");
    assert_eq!(
        reply
            .as_dictionary()
            .and_then(|d| d.get("Command"))
            .and_then(Value::as_string),
        Some("ProxyDeath")
    );

    let without_bag = PairRecord {
        escrow_bag: None,
        ..record
    };
    let err = lockdown::service::open(
        &mux,
        &device,
        &without_bag,
        np,
        OpenOptions::default().with_escrow_bag(),
    )
    .err()
    .expect("no bag to send");
    assert!(matches!(err, Error::NoEscrowBag(..)), "{err}");
}
