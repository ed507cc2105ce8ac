//! ReadDir's NUL-separated name list.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |payload| {
        for name in afc::kv::parse_names(payload) {
            assert!(
                !name.is_empty() && name != "." && name != "..",
                "parse_names let {name:?} through"
            );
            assert!(!name.contains('\0'));
        }
    });
});
