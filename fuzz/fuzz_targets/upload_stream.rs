//! The raw file stream after `DLMessageUploadFiles` (docs/backup.md §1.6), fed to the
//! decoder in pieces whose sizes the input chooses: names and error blocks within their
//! limits, data handed back as it arrives, never a claimed length allocated ahead of its
//! bytes (the allocator in src/lib.rs aborts if it were). The same bytes read as a download
//! stream too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobilebackup2::stream::{Decoder, Event, MAX_MESSAGE, MAX_NAME};

fn feed(mut decoder: Decoder, input: &[u8], piece: usize) {
    let mut data = 0u64;
    for chunk in input.chunks(piece) {
        let mut rest = chunk;
        while !rest.is_empty() && !decoder.is_done() {
            let Ok((used, event)) = decoder.next(rest) else { return };
            assert!(used <= rest.len());
            match event {
                Some(Event::FileStart { device_name, path }) => {
                    assert!(path.len() <= MAX_NAME as usize && device_name.len() <= MAX_NAME as usize);
                }
                Some(Event::Data(bytes)) => {
                    assert_eq!(bytes.len(), used);
                    data += bytes.len() as u64;
                }
                Some(Event::FileFailed { message, .. }) => {
                    // Lossy UTF-8 may grow each bad byte to three.
                    assert!(message.len() <= 3 * MAX_MESSAGE as usize);
                }
                Some(Event::FileDone) | Some(Event::End) => {}
                None => assert!(used > 0, "no progress on {} bytes", rest.len()),
            }
            rest = &rest[used..];
        }
    }
    assert!(data <= input.len() as u64);
}

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |bytes| {
        let (piece, stream) = match bytes.split_first() {
            Some((first, rest)) => (usize::from(*first).max(1), rest),
            None => (1, bytes),
        };
        feed(Decoder::upload(), stream, piece);
        feed(Decoder::download(), stream, piece);
    });
});
