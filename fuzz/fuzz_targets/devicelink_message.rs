//! What the phone sends on `com.apple.mobilebackup2`: length-prefixed plists read as
//! DeviceLink messages (docs/backup.md §1.2, §1.5), the backup protocol's responses inside
//! them, and every path they name checked as a device path. A message that decodes must
//! encode and decode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobilebackup2::{DevicePath, DlMessage, Response};

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |mut bytes| {
        while let Ok(Some(frame)) = lockdown::wire::read_frame(&mut bytes, lockdown::codec::MAX_FRAME) {
            let Ok(message) = DlMessage::decode(frame) else {
                continue;
            };
            let again = DlMessage::decode(message.encode()).expect("an encoded message decodes");
            // Compared as encoded bytes: a NaN anywhere (a progress, a value in a dictionary)
            // is not equal to itself, but it encodes the same every time.
            let bytes = |m: &DlMessage| {
                let mut out = Vec::new();
                plist::to_writer_binary(&mut out, &m.encode()).map(|()| out)
            };
            assert_eq!(bytes(&again).ok(), bytes(&message).ok());
            let paths: Vec<&str> = match &message {
                DlMessage::DownloadFiles { paths, .. } | DlMessage::RemoveItems { paths, .. } => {
                    paths.iter().map(String::as_str).collect()
                }
                DlMessage::CreateDirectory { path, .. } | DlMessage::ContentsOfDirectory { path } => vec![path],
                DlMessage::MoveItems { moves, .. } => moves.iter().flat_map(|m| [&*m.from, &*m.to]).collect(),
                DlMessage::CopyItem { from, to } => vec![from, to],
                DlMessage::ProcessMessage(d) => {
                    let _ = Response::decode(d);
                    vec![]
                }
                _ => vec![],
            };
            for path in paths {
                if let Ok(checked) = DevicePath::parse(path, "00008110-001A2B3C4D5E6F70") {
                    let parts: Vec<&str> = checked.as_str().split('/').collect();
                    assert!(
                        parts
                            .iter()
                            .all(|p| !p.is_empty() && *p != "." && *p != ".." && p.len() <= 255)
                    );
                    assert!(!checked.as_str().contains(['\0', '\\']));
                    assert!(checked.as_str().starts_with("00008110-001A2B3C4D5E6F70"));
                }
            }
        }
    });
});
