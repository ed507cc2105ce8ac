//! What lockdownd sends: a 4-byte big-endian length and a plist (XML or binary), checked
//! as a reply, and a pair record as usbmuxd or a file holds it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |mut bytes| {
        let _ = lockdown::PairRecord::from_bytes(bytes);
        while let Ok(Some(reply)) = lockdown::codec::read_frame(&mut bytes) {
            for request in [
                "QueryType",
                "GetValue",
                "StartSession",
                "StartService",
                "Pair",
                "Unpair",
            ] {
                let _ = lockdown::message::check_reply(request, &reply);
            }
            let _ = lockdown::PairRecord::from_dict(&reply);
        }
    });
});
