//! Every decoder that reads bytes from a device, fed random and mutated input: errors are
//! fine, panics are not. A quick, deterministic companion to the coverage-guided targets
//! in `fuzz/` (which also bound memory), run with the normal test suite.

mod common;

use std::io::Cursor;

use common::Rng;

const ROUNDS: usize = 200_000;

#[test]
fn usbmux_messages() {
    let mut rng = Rng(0xA11CE);
    let mut dict = plist::Dictionary::new();
    dict.insert("MessageType".into(), "Attached".into());
    let seed = usbmux::codec::encode_message(1, &plist::Value::Dictionary(dict)).unwrap();
    for _ in 0..ROUNDS {
        let input = if rng.next().is_multiple_of(2) {
            rng.bytes(64)
        } else {
            rng.mutate(&seed)
        };
        if let Ok(Some((_, dict))) =
            usbmux::wire::read_message(&mut Cursor::new(&input), usbmux::codec::SERVER_MAX_MESSAGE)
        {
            let _ = usbmux::Event::from_plist(&dict);
            let _ = usbmux::Request::from_plist(&dict);
            let _ = usbmux::Device::from_attached_plist(&dict);
        }
    }
}

#[test]
fn lockdown_frames() {
    let mut rng = Rng(0xB0B);
    let mut dict = plist::Dictionary::new();
    dict.insert("Request".into(), "QueryType".into());
    let seed = lockdown::codec::encode_frame(&plist::Value::Dictionary(dict), lockdown::codec::Format::Xml).unwrap();
    for _ in 0..ROUNDS {
        let input = if rng.next().is_multiple_of(2) {
            rng.bytes(64)
        } else {
            rng.mutate(&seed)
        };
        if let Ok(Some(frame)) = lockdown::wire::read_frame(&mut Cursor::new(&input), lockdown::codec::MAX_FRAME)
            && let Some(reply) = frame.as_dictionary()
        {
            let _ = lockdown::message::check_reply("QueryType", reply);
            let _ = lockdown::PairRecord::from_dict(reply);
        }
    }
}

#[test]
fn afc_packets_and_payloads() {
    let mut rng = Rng(0xCAFE);
    let seeds = [
        afc::Request::FileRefOpen {
            mode: 1,
            path: "/DCIM/100APPLE/IMG_0001.HEIC".into(),
        }
        .encode(3),
        afc::Request::RenamePath {
            from: "a".into(),
            to: "b".into(),
        }
        .encode(4),
        afc::Reply::Data(b"st_size\x0064\x00st_ifmt\x00S_IFDIR\x00".to_vec()).encode(5),
        afc::Reply::Status(afc::AfcStatus::ObjectNotFound).encode(6),
    ];
    for round in 0..ROUNDS {
        let input = if rng.next().is_multiple_of(3) {
            rng.bytes(96)
        } else {
            rng.mutate(&seeds[round % seeds.len()])
        };
        if let Ok(Some((header, body))) = afc::wire::read_packet(&mut Cursor::new(&input), 1 << 20) {
            let _ = afc::Request::decode(header.operation, &body);
            if let Ok(afc::Reply::Data(payload)) = afc::Reply::decode(header.operation, body) {
                let _ = afc::kv::FileInfo::parse(&payload);
                let _ = afc::kv::parse_names(&payload);
                let _ = afc::kv::parse_pairs(&payload);
            }
        }
    }
}

#[test]
fn media_structure_checks() {
    let mut rng = Rng(0xF00D);
    let seeds: [(&str, &[u8]); 4] = [
        ("a.JPG", include_bytes!("../fixtures/IMG_0001.JPG")),
        ("a.HEIC", include_bytes!("../fixtures/IMG_0002.HEIC")),
        ("a.PNG", include_bytes!("../fixtures/IMG_0003.PNG")),
        ("a.MOV", include_bytes!("../fixtures/IMG_0004.MOV")),
    ];
    for round in 0..ROUNDS / 4 {
        let (name, seed) = seeds[round % seeds.len()];
        let input = rng.mutate(seed);
        let _ = transfer::verify::content::check(name, &input);
    }
}
