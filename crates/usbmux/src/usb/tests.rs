//! The transport's decisions, through the fake bus (fake.rs): docs/usb-transport.md lists
//! the findings each test stands for.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::device::OpenFailure;
use super::fake::{Behaviour, CLOSED_PORT, FakeBus, FakePhone};
use super::{Timing, UsbTransport};
use crate::error::Error;
use crate::transport::UsbSettings;

/// Long enough for a loaded machine, short enough that a hang fails instead of waiting.
const PATIENCE: Duration = Duration::from_secs(20);

const PHONE_A: &str = "00008110-000A00000000000A";
const PHONE_B: &str = "00008110-000B00000000000B";

fn timing() -> Timing {
    Timing {
        open: Duration::from_secs(10),
        connect: Duration::from_secs(10),
        settle: Duration::from_millis(500),
        permission_grace: Duration::from_secs(10),
        pause: Duration::from_millis(10),
    }
}

/// A bus with phone A on it, behaving so.
fn phone_a(behaviour: Behaviour) -> (Arc<FakeBus>, Arc<FakePhone>) {
    let bus = FakeBus::new();
    let phone = bus.plug(4, PHONE_A, behaviour);
    (bus, phone)
}

/// A phone whose every open fails.
fn broken() -> Behaviour {
    Behaviour {
        always: Some(|| OpenFailure::Other("the interface is not there".into())),
        ..Behaviour::default()
    }
}

fn transport(bus: &Arc<FakeBus>, timing: Timing) -> UsbTransport {
    UsbTransport::with_bus(UsbSettings::default(), Box::new(Arc::clone(bus)), timing)
}

fn udids(devices: &[crate::Device]) -> Vec<&str> {
    devices.iter().map(|d| d.udid.as_str()).collect()
}

fn echo(stream: &mut crate::UsbmuxStream, bytes: &[u8]) {
    stream.write_all(bytes).unwrap();
    let mut back = vec![0; bytes.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, bytes);
}

#[test]
fn a_dead_link_ends_its_streams_and_the_phone_is_opened_again() {
    let (bus, phone) = phone_a(Behaviour::default());
    let usb = transport(&bus, timing());
    let first = usb.list_devices(None).unwrap();
    let mut stream = usb.connect(first[0].device_id, crate::LOCKDOWN_PORT).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    echo(&mut stream, &[7; 10_000]);

    phone.kill_link();
    // rusbmux would leave this read waiting; the transport shuts the phone down instead.
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("end-of-file, not a wait for the timeout");
    assert!(rest.is_empty());
    assert!(phone.was_shut_down());

    let second = usb.list_devices(None).unwrap();
    assert_eq!(udids(&second), [PHONE_A]);
    assert_ne!(
        second[0].device_id, first[0].device_id,
        "opened again, as after a replug"
    );
    assert_eq!(phone.opens(), 2);
    assert!(matches!(
        usb.connect(first[0].device_id, crate::LOCKDOWN_PORT),
        Err(Error::NoSuchDevice(_))
    ));
    let mut again = usb.connect(second[0].device_id, crate::LOCKDOWN_PORT).unwrap();
    again.set_read_timeout(Some(PATIENCE)).unwrap();
    echo(&mut again, b"alive");
}

#[test]
fn a_link_that_stops_answering_without_a_word_is_opened_again() {
    let (bus, phone) = phone_a(Behaviour::default());
    let usb = transport(
        &bus,
        Timing {
            connect: Duration::from_millis(300),
            ..timing()
        },
    );
    let first = usb.list_devices(None).unwrap();
    echo(
        &mut usb.connect(first[0].device_id, crate::LOCKDOWN_PORT).unwrap(),
        b"live",
    );

    phone.mute_link();
    let refused = usb.connect(first[0].device_id, crate::LOCKDOWN_PORT).unwrap_err();
    assert!(
        matches!(&refused, Error::UsbLink(why) if why.contains("opened again")),
        "{refused:?}"
    );
    assert!(phone.was_shut_down(), "let go, not kept as a live phone");

    let second = usb.list_devices(None).unwrap();
    assert_eq!(phone.opens(), 2, "opened afresh");
    let mut again = usb.connect(second[0].device_id, crate::LOCKDOWN_PORT).unwrap();
    again.set_read_timeout(Some(PATIENCE)).unwrap();
    echo(&mut again, b"alive");
}

#[test]
fn a_phone_that_cannot_be_opened_is_left_out_and_kept_for_the_caller() {
    let bus = FakeBus::new();
    bus.plug(4, PHONE_A, Behaviour::default());
    bus.plug(5, PHONE_B, broken());
    let usb = transport(&bus, timing());
    let devices = usb.list_devices(None).unwrap();
    assert_eq!(udids(&devices), [PHONE_A]);
    let unopened = usb.take_unopened();
    assert_eq!(unopened.len(), 1);
    let text = unopened[0].to_string();
    assert!(
        text.contains(PHONE_B) && text.contains("the interface is not there"),
        "{text}"
    );
}

#[test]
fn with_no_phone_opened_the_failure_is_the_answer() {
    let bus = FakeBus::new();
    bus.plug(5, PHONE_B, broken());
    let err = transport(&bus, timing()).list_devices(None).unwrap_err();
    assert!(
        matches!(err, Error::UsbOpen { ref udid, .. } if udid == PHONE_B),
        "{err}"
    );
}

#[test]
fn naming_a_phone_claims_that_phone_only() {
    let (bus, a) = phone_a(Behaviour::default());
    let b = bus.plug(5, PHONE_B, broken());
    let usb = transport(&bus, timing());
    // Spelled as some tools spell it: no dash, lower case.
    let wanted = PHONE_A.replace('-', "").to_lowercase();
    let devices = usb.list_devices(Some(&wanted)).unwrap();
    assert_eq!(udids(&devices), [PHONE_A]);
    assert_eq!(b.opens(), 0, "the other phone is left alone");
    assert!(usb.take_unopened().is_empty());
    assert_eq!(a.opens(), 1);
}

#[test]
fn naming_an_absent_phone_names_the_ones_on_the_bus_without_claiming_them() {
    let (bus, a) = phone_a(Behaviour::default());
    let b = bus.plug(5, PHONE_B, Behaviour::default());
    let client = crate::UsbmuxClient::with_usb_transport(
        crate::UsbmuxAddress::Unix("/nonexistent/usbmuxd".into()),
        transport(&bus, timing()),
        None,
    );
    let listed = client.list_devices_wanting(Some("00008110-000C00000000000C")).unwrap();
    assert!(listed.is_empty());
    assert_eq!(client.udids_on_the_bus(), [PHONE_A, PHONE_B]);
    assert_eq!((a.opens(), b.opens()), (0, 0), "named, not claimed");
}

#[test]
fn permission_denied_right_after_plug_in_is_tried_again() {
    let (bus, phone) = phone_a(Behaviour {
        denied_until: Some(Instant::now() + Duration::from_millis(100)),
        ..Behaviour::default()
    });
    let devices = transport(&bus, timing()).list_devices(None).unwrap();
    assert_eq!(udids(&devices), [PHONE_A]);
    assert!(phone.opens() >= 2, "opened {} times", phone.opens());
}

#[test]
fn permission_denied_for_good_says_how_to_fix_it_for_a_logged_out_user_too() {
    let (bus, phone) = phone_a(Behaviour {
        always: Some(|| OpenFailure::PermissionDenied),
        ..Behaviour::default()
    });
    let timing = Timing {
        permission_grace: Duration::from_millis(50),
        ..timing()
    };
    let err = transport(&bus, timing).list_devices(None).unwrap_err();
    assert!(matches!(err, Error::UsbPermission { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("/dev/bus/usb/001/004") && text.contains(crate::udev::RULE_PATH),
        "{text}"
    );
    assert!(
        text.contains("uaccess") && text.contains("nobody is logged in"),
        "{text}"
    );
    assert!(text.contains(&crate::udev::plugdev_rule()), "{text}");
    assert!(phone.opens() >= 2, "tried again for a while first");
}

#[test]
fn a_phone_held_by_another_program_is_left_to_it() {
    let (bus, phone) = phone_a(Behaviour {
        held_by: Some("gvfs-gphoto2-vo (process 4321)".into()),
        ..Behaviour::default()
    });
    let err = transport(&bus, timing()).list_devices(None).unwrap_err();
    assert!(matches!(err, Error::UsbBusy { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("gvfs-gphoto2-vo (process 4321) holds"), "{text}");
    assert!(text.contains("close that program"), "{text}");
    assert_eq!(phone.opens(), 0, "not claimed");
}

#[test]
fn a_handshake_that_times_out_is_tried_once_more() {
    let (bus, phone) = phone_a(Behaviour {
        silent_opens: 1,
        ..Behaviour::default()
    });
    // A settling time shorter than the handshake's timeout, as it once was.
    let timing = Timing {
        open: Duration::from_millis(200),
        settle: Duration::from_millis(50),
        ..timing()
    };
    let devices = transport(&bus, timing).list_devices(None).unwrap();
    assert_eq!(udids(&devices), [PHONE_A]);
    assert_eq!(phone.opens(), 2);
}

#[test]
fn the_default_settling_time_leaves_room_for_a_second_handshake() {
    assert!(Timing::DEFAULT.settle > Timing::DEFAULT.open);
}

#[test]
fn a_closed_port_is_refused() {
    let bus = FakeBus::new();
    bus.plug(4, PHONE_A, Behaviour::default());
    let usb = transport(&bus, timing());
    let device = usb.list_devices(None).unwrap().remove(0);
    let err = usb.connect(device.device_id, CLOSED_PORT).unwrap_err();
    assert!(
        matches!(err, Error::ConnectionRefused { port: CLOSED_PORT, .. }),
        "{err}"
    );
}

#[test]
fn a_panic_while_opening_is_an_error_not_a_crash() {
    let (bus, phone) = phone_a(Behaviour {
        panicking_opens: 1000,
        ..Behaviour::default()
    });
    let usb = transport(&bus, timing());
    let err = usb.list_devices(None).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::UsbLink(_)), "{text}");
    assert!(text.contains("size mismatch") && text.contains("afresh"), "{text}");

    // The phone answers properly now: the next look opens it.
    phone.set_behaviour(Behaviour::default());
    assert_eq!(udids(&usb.list_devices(None).unwrap()), [PHONE_A]);
}

#[test]
fn a_panic_in_a_phone_task_starts_the_usb_side_afresh() {
    let (bus, phone) = phone_a(Behaviour::default());
    let usb = transport(&bus, timing());
    let first = usb.list_devices(None).unwrap();
    let mut stream = usb.connect(first[0].device_id, crate::LOCKDOWN_PORT).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    echo(&mut stream, b"before");

    phone.panic_in_reader();
    let second = usb.list_devices(None).unwrap();
    assert_eq!(udids(&second), [PHONE_A]);
    assert_ne!(second[0].device_id, first[0].device_id);
    assert_eq!(phone.opens(), 2, "opened again");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the old stream ended");

    let mut again = usb.connect(second[0].device_id, crate::LOCKDOWN_PORT).unwrap();
    again.set_read_timeout(Some(PATIENCE)).unwrap();
    echo(&mut again, b"after");
}

/// A usbmuxd that knows `phones` and answers ListDevices and Listen, at `path`.
fn fake_daemon(path: &std::path::Path, phones: Vec<crate::Device>) {
    use crate::message::{Event, ResultCode};
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let phones = phones.clone();
            std::thread::spawn(move || {
                let Ok(Some((header, request))) = crate::wire::read_message(&mut conn, 1 << 20) else {
                    return;
                };
                let kind = request.get("MessageType").and_then(plist::Value::as_string);
                let mut reply = plist::Dictionary::new();
                match kind {
                    Some("ListDevices") => {
                        let list = phones.iter().map(crate::Device::to_attached_plist).collect();
                        reply.insert("DeviceList".into(), plist::Value::Array(list));
                        let _ = crate::wire::write_message(&mut conn, header.tag, &reply.into());
                    }
                    Some("Listen") => {
                        let _ = crate::wire::write_message(&mut conn, header.tag, &ResultCode::Ok.to_plist());
                        for phone in phones {
                            let _ = crate::wire::write_message(&mut conn, 0, &Event::Attached(phone).to_plist());
                        }
                        // Keep the connection open, as the daemon does.
                        let _ = conn.read(&mut [0; 1]);
                    }
                    _ => {}
                }
            });
        }
    });
}

fn daemon_phone(device_id: u32, udid: &str) -> crate::Device {
    crate::Device {
        device_id,
        udid: udid.into(),
        connection: crate::ConnectionKind::Usb {
            speed: Some(480_000_000),
            product_id: Some(0x12a8),
            location_id: Some(4),
        },
    }
}

/// `auto` with no daemon at first, over the fake bus.
fn auto_client(bus: &Arc<FakeBus>, socket: &std::path::Path, daemon_at_start: bool) -> crate::UsbmuxClient {
    crate::UsbmuxClient::with_usb_transport(
        crate::UsbmuxAddress::Unix(socket.to_path_buf()),
        transport(bus, timing()),
        Some(daemon_at_start),
    )
}

#[test]
fn a_daemon_that_starts_meanwhile_takes_over_and_gets_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("usbmuxd");
    let (bus, phone) = phone_a(Behaviour::default());
    let client = auto_client(&bus, &socket, false);
    let over_usb = client.list_devices().unwrap();
    assert_eq!(udids(&over_usb), [PHONE_A]);
    assert_eq!(client.transport().kind(), "usb");

    // udev starts usbmuxd for the phone.
    fake_daemon(&socket, vec![daemon_phone(77, PHONE_A)]);
    let listed = client.list_devices().unwrap();
    assert_eq!(listed, [daemon_phone(77, PHONE_A)], "the daemon's list");
    assert_eq!(client.transport().kind(), "usbmuxd");
    assert!(phone.was_shut_down(), "let go of, so the daemon can claim it");
    assert!(!phone.is_held(), "and dropped, which releases its interface");
}

#[test]
fn a_usb_listener_hands_over_to_a_daemon_that_starts() {
    use crate::message::Event;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("usbmuxd");
    let (bus, phone) = phone_a(Behaviour::default());
    let client = auto_client(&bus, &socket, false);
    let mut listener = client.listen().unwrap();
    let Some(Event::Attached(over_usb)) = listener.next_event(Some(PATIENCE)).unwrap() else {
        panic!("the phone on the bus first");
    };

    fake_daemon(&socket, vec![daemon_phone(77, PHONE_A)]);
    let detached = listener.next_event(Some(PATIENCE)).unwrap();
    assert_eq!(
        detached,
        Some(Event::Detached {
            device_id: over_usb.device_id
        })
    );
    assert_eq!(
        listener.next_event(Some(PATIENCE)).unwrap(),
        Some(Event::Attached(daemon_phone(77, PHONE_A)))
    );
    assert!(phone.was_shut_down());
    assert!(!phone.is_held());
}

#[test]
fn a_daemon_listing_no_phone_while_the_bus_shows_one_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("usbmuxd");
    fake_daemon(&socket, Vec::new());
    let (bus, phone) = phone_a(Behaviour::default());
    let client = auto_client(&bus, &socket, true);
    let err = client.list_devices().unwrap_err();
    assert!(matches!(err, Error::DaemonSeesNoPhone { .. }), "{err}");
    assert!(err.to_string().contains("plug it in again"), "{err}");
    assert_eq!(phone.opens(), 0, "the phone is left to the daemon");

    // With no phone on the bus either, an empty list is the answer.
    let empty = FakeBus::new();
    assert!(auto_client(&empty, &socket, true).list_devices().unwrap().is_empty());
}
