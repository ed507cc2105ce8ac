//! What lockdownd and DeviceLink services send: a 4-byte big-endian length and a plist (XML
//! or binary, dictionary or array), typed as a reply to each request, read as a request the
//! simulated phone would serve, and a pair record as usbmuxd or a file holds it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockdown::message::{Kind, Reply, Request};

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |mut bytes| {
        let _ = lockdown::PairRecord::from_bytes(bytes);
        while let Ok(Some(frame)) = lockdown::wire::read_frame(&mut bytes, lockdown::codec::MAX_FRAME) {
            let Some(reply) = frame.as_dictionary() else {
                continue;
            };
            for kind in [
                Kind::QueryType,
                Kind::GetValue,
                Kind::StartSession,
                Kind::StopSession,
                Kind::StartService,
                Kind::Pair,
                Kind::Unpair,
            ] {
                let _ = Reply::decode(kind, reply);
            }
            let _ = Request::decode(reply);
            let _ = lockdown::PairRecord::from_dict(reply);
        }
    });
});
