//! The client against a daemon that answers with malformed bytes: every case is an error,
//! never a panic, a hang, or an allocation of the claimed size.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use usbmux::codec::Header;
use usbmux::{Error, UsbmuxAddress, UsbmuxClient};

/// Serves one connection: reads the request, then writes `reply` and closes.
fn hostile(reply: Vec<u8>) -> UsbmuxClient {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let mut header = [0u8; 16];
            if conn.read_exact(&mut header).is_ok() {
                let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
                let mut body = vec![0u8; len.saturating_sub(16)];
                let _ = conn.read_exact(&mut body);
            }
            let _ = conn.write_all(&reply);
        }
    });
    UsbmuxClient::new(UsbmuxAddress::parse(&addr.to_string()).unwrap())
}

fn plist_message(tag: u32, xml: &str) -> Vec<u8> {
    let mut out = Header {
        length: (16 + xml.len()) as u32,
        version: 1,
        message: 8,
        tag,
    }
    .encode()
    .to_vec();
    out.extend_from_slice(xml.as_bytes());
    out
}

const BUID_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>BUID</key><string>X</string></dict></plist>"#;

#[test]
fn malformed_replies_are_protocol_errors() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nothing", vec![]),
        ("short header", vec![1, 2, 3, 4, 5]),
        (
            "huge length",
            Header {
                length: 0xFFFF_FFF0,
                version: 1,
                message: 8,
                tag: 1,
            }
            .encode()
            .to_vec(),
        ),
        (
            "length below header",
            Header {
                length: 3,
                version: 1,
                message: 8,
                tag: 1,
            }
            .encode()
            .to_vec(),
        ),
        ("truncated payload", plist_message(1, BUID_XML)[..40].to_vec()),
        ("non-plist payload", plist_message(1, "this is not a plist at all")),
        (
            "array payload",
            plist_message(1, r#"<plist version="1.0"><array/></plist>"#),
        ),
        ("wrong tag", plist_message(99, BUID_XML)),
        (
            "binary protocol",
            Header {
                length: 20,
                version: 0,
                message: 1,
                tag: 1,
            }
            .encode()
            .to_vec(),
        ),
        (
            "missing BUID",
            plist_message(1, r#"<plist version="1.0"><dict/></plist>"#),
        ),
    ];
    for (what, reply) in cases {
        let err = hostile(reply).read_buid().expect_err(what);
        assert!(matches!(err, Error::Protocol(_)), "{what}: {err}");
    }
}

#[test]
fn malformed_device_lists_are_errors() {
    let no_serial = r#"<plist version="1.0"><dict><key>DeviceList</key><array><dict><key>DeviceID</key><integer>1</integer><key>Properties</key><dict/></dict></array></dict></plist>"#;
    let err = hostile(plist_message(1, no_serial)).list_devices().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    let not_a_list = r#"<plist version="1.0"><dict><key>DeviceList</key><string>x</string></dict></plist>"#;
    assert!(hostile(plist_message(1, not_a_list)).list_devices().is_err());
}

#[test]
fn unreachable_daemon_says_what_to_do() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = UsbmuxClient::new(UsbmuxAddress::parse(&addr.to_string()).unwrap())
        .list_devices()
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("usbmuxd"), "{err}");
}
