//! What usbmuxd sends the client: a 16-byte header and an XML plist, then the messages
//! made of it (results, device lists, Attached/Detached events).
#![no_main]

use libfuzzer_sys::fuzz_target;
use usbmux::codec::CLIENT_MAX_MESSAGE;

fuzz_target!(|input: &[u8]| {
    lifeboat_fuzz::bounded(input, |mut bytes| {
        while let Ok(Some((_, dict))) = usbmux::wire::read_message(&mut bytes, CLIENT_MAX_MESSAGE) {
            let _ = usbmux::ResultCode::from_reply(&dict);
            let _ = usbmux::Event::from_plist(&dict);
            let _ = usbmux::Device::from_attached_plist(&dict);
            // The simulated daemon parses requests with the same codec.
            let _ = usbmux::Request::from_plist(&dict);
            if let Some(plist::Value::Array(devices)) = dict.get("DeviceList") {
                for device in devices.iter().filter_map(plist::Value::as_dictionary) {
                    let _ = usbmux::Device::from_attached_plist(device);
                }
            }
            if let Some(record) = dict.get("PairRecordData").and_then(plist::Value::as_data) {
                let _ = lockdown::PairRecord::from_bytes(record);
            }
        }
    });
});
