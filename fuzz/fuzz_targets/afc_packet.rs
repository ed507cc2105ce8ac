//! AFC packets as they come off the wire: the 40-byte header, then requests (as the
//! simulated afcd decodes them) and replies (as the client does).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The client's own bound on a reply (afc::client's MAX_REPLY).
const MAX_REPLY: u64 = 64 << 20;

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |mut bytes| {
        while let Ok(Some((header, body))) = afc::wire::read_packet(&mut bytes, MAX_REPLY) {
            let _ = afc::Request::decode(header.operation, &body);
            if let Ok(afc::Reply::Data(payload)) = afc::Reply::decode(header.operation, body) {
                let _ = afc::kv::FileInfo::parse(&payload);
                let _ = afc::kv::parse_names(&payload);
            }
        }
    });
});
