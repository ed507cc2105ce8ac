//! rusbmux's packet parser on what a phone sends, run as lifeboat runs it: on the USB
//! worker, with a panic caught at the task's boundary (docs/usb-transport.md §3). For the
//! `usb_device_packets` fuzz target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rusbmux::error::ParseError;
use rusbmux::parser::device_mux::UsbDevicePacket;

use super::runtime::{BackgroundRuntime, RuntimeGone};

/// What parsing a phone's bytes came to.
#[derive(Debug, PartialEq, Eq)]
pub struct DevicePackets {
    /// Packets parsed whole.
    pub parsed: usize,
    /// Headers rejected; rusbmux carries on at the next byte (§3.3).
    pub rejected: usize,
    /// rusbmux panicked, with its message; lifeboat's worker caught it (§3.1).
    pub panic: Option<String>,
}

/// Parses `bytes` as rusbmux's reader task reads a phone's bulk endpoint: packet after
/// packet until the bytes end, carrying on after a rejected header.
pub fn read_device_packets(bytes: &[u8]) -> DevicePackets {
    static WORKER: OnceLock<Option<BackgroundRuntime>> = OnceLock::new();
    let Some(worker) = WORKER.get_or_init(|| BackgroundRuntime::start().ok()) else {
        return DevicePackets {
            parsed: 0,
            rejected: 0,
            panic: Some("no USB worker thread".into()),
        };
    };
    let mut endpoint = std::io::Cursor::new(bytes.to_vec());
    let (parsed, rejected) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counts = (Arc::clone(&parsed), Arc::clone(&rejected));
    let outcome = worker.run(async move {
        loop {
            match UsbDevicePacket::from_reader(&mut endpoint).await {
                Ok(_) => counts.0.fetch_add(1, Ordering::Relaxed),
                // The endpoint ended (rusbmux's reader stops on an I/O error).
                Err(ParseError::IO(_)) => return,
                Err(_) => counts.1.fetch_add(1, Ordering::Relaxed),
            };
        }
    });
    DevicePackets {
        parsed: parsed.load(Ordering::Relaxed),
        rejected: rejected.load(Ordering::Relaxed),
        panic: match outcome {
            Ok(()) => None,
            Err(RuntimeGone::Panicked(message)) => Some(message),
            Err(RuntimeGone::Stopped) => Some("the USB worker stopped".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// The inputs in docs/usb-transport.md §3, as the doc spells them.
    const VERSION_REPLY: &str = "00000000 00000014 00000002 00000000 00000000";
    const WRONG_SIZE_VERSION: &str = "00000000 00000009 ff";
    const STRAY_THEN_VERSION_REPLY: &str = "deadbeef 00000000 00000014 00000002 00000000 00000000";

    #[test]
    fn a_version_reply_parses() {
        let got = read_device_packets(&hex(VERSION_REPLY));
        assert_eq!((got.parsed, got.rejected, got.panic), (1, 0, None));
    }

    #[test]
    fn a_wrong_size_version_packet_panics_inside_rusbmux_and_is_caught() {
        let got = read_device_packets(&hex(WRONG_SIZE_VERSION));
        let panic = got.panic.expect("rusbmux panicked");
        assert!(panic.contains("from_bytes"), "{panic}");
        // The worker goes on.
        assert_eq!(read_device_packets(&hex(VERSION_REPLY)).parsed, 1);
    }

    #[test]
    fn stray_bytes_lose_the_packet_after_them() {
        let got = read_device_packets(&hex(STRAY_THEN_VERSION_REPLY));
        assert_eq!(got.parsed, 0, "rusbmux does not find the reply again: {got:?}");
        assert!(got.rejected > 0);
        assert!(
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/usb-transport.md"))
                .unwrap()
                .contains(STRAY_THEN_VERSION_REPLY)
        );
    }
}
