//! GetFileInfo's and GetDeviceInfo's NUL-separated key/value lists.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |payload| {
        if let Ok(info) = afc::kv::FileInfo::parse(payload) {
            // What parses must encode and parse back to itself.
            let again = afc::kv::FileInfo::parse(&info.encode()).expect("an encoded FileInfo parses");
            assert_eq!(again.size, info.size);
            assert_eq!(again.kind, info.kind);
            assert_eq!(again.mtime_ns, info.mtime_ns);
        }
        let _ = afc::kv::parse_pairs(payload);
    });
});
