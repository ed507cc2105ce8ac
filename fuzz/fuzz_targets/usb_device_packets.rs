//! What a phone sends on its USB bulk endpoint, parsed by rusbmux as lifeboat's USB worker
//! runs it (docs/usb-transport.md §3): rusbmux may panic on it (§3.1), and lifeboat must
//! catch that at the worker's task boundary; no input may crash, hang or stop the worker.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The largest payload a phone sends in one packet: usbmuxd's 64 KiB bulk transfer.
const LARGEST_PAYLOAD: usize = 64 * 1024;

/// Whether rusbmux would take a header in `input` to claim more payload than a phone ever
/// sends. It allocates a claimed payload before reading it, which lifeboat cannot contain
/// from outside (§3.2): such inputs are skipped. Walks the bytes as rusbmux's
/// `UsbDevicePacket::from_reader` does, including after a rejected header (§3.3).
fn claims_too_much(mut rest: &[u8]) -> bool {
    let be32 = |bytes: &[u8]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    loop {
        if rest.len() < 8 {
            return false;
        }
        let (protocol, length) = (be32(&rest[..4]), be32(&rest[4..8]));
        let (header, tcp) = match protocol {
            0 => (8, 0),
            1 | 2 => (16, 0),
            6 => (16, 20),
            _ => {
                rest = &rest[8..];
                continue;
            }
        };
        if rest.len() < header + tcp {
            return false;
        }
        // A TCP header parses only with a data offset of 5 words: no options are read.
        let rejected = (tcp > 0 && rest[header + 12] >> 4 != 5) || length < header + tcp;
        if rejected {
            rest = &rest[header + tcp..];
            continue;
        }
        let payload = length - header - tcp;
        if payload > LARGEST_PAYLOAD {
            return true;
        }
        match rest.get(header + tcp + payload..) {
            Some(after) => rest = after,
            None => return false,
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if claims_too_much(input) {
        return;
    }
    // The worker thread starts once, outside the memory bound.
    let _ = usbmux::device_packets::read_device_packets(&[]);
    let got = lifeboat_fuzz::bounded(input, usbmux::device_packets::read_device_packets);
    // Every packet or rejected header takes at least 8 bytes.
    assert!(got.parsed + got.rejected <= input.len() / 8, "{got:?}");
    // The worker still answers after whatever happened.
    assert_eq!(
        usbmux::device_packets::read_device_packets(&[0, 0, 0, 0, 0, 0, 0, 8]).parsed,
        0,
        "a version packet with no payload is rejected"
    );
});
