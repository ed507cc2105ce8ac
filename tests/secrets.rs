//! Pair records hold the keys that let a computer read a phone without asking. They stay
//! in 0600 files: no command prints them, in text, in `--json`, in an error, or in the
//! nightly log, and the record's Debug form leaves them out.

mod common;

use common::*;
use fake_iphone::TrustState;

/// Distinctive slices of every key and certificate in the pair record.
fn secrets(record: &[u8]) -> Vec<String> {
    let value = plist::Value::from_reader(std::io::Cursor::new(record)).expect("pair record plist");
    let dict = value.as_dictionary().expect("dictionary");
    let mut out = Vec::new();
    for key in ["HostPrivateKey", "RootPrivateKey", "EscrowBag"] {
        let Some(data) = dict.get(key).and_then(|v| v.as_data()) else {
            continue;
        };
        // The base64 body of a PEM key, and the raw bytes as hex and as they stand.
        let pem = String::from_utf8_lossy(data).into_owned();
        for line in pem.lines().filter(|l| l.len() > 40 && !l.starts_with("-----")) {
            out.push(line[..40].to_string());
        }
        let hex: String = data.iter().take(24).map(|b| format!("{b:02x}")).collect();
        out.push(hex);
    }
    assert!(out.len() >= 4, "the record has private keys to look for");
    out
}

#[test]
fn private_keys_never_leave_the_pair_record() {
    let (fake, _media) = fake_with(TrustState::Trusted);
    let home = Home::new();
    let mut outputs = vec![lifeboat(&fake, &home, &["pair"])];
    assert_success(&outputs[0], "pair");
    let record_path = home.lifeboat_records().join(format!("{UDID}.plist"));
    let record = std::fs::read(&record_path).unwrap();
    let secrets = secrets(&record);

    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path().to_str().unwrap();
    for args in [
        vec!["devices", "--json"],
        vec!["devices"],
        vec!["info", "--json"],
        vec!["info"],
        vec!["pair"],
        vec!["export-photos", dest, "--json"],
        vec!["verify", dest, "--json"],
        vec!["files", "ls", "/"],
        // Failures: a phone that is not there, a folder that cannot be one.
        vec!["info", "--device", "00000000-0000000000000000"],
        vec!["export-photos", "/proc/version/x"],
    ] {
        outputs.push(lifeboat(&fake, &home, &args));
    }
    // A record the phone no longer accepts: the error must not quote it.
    assert!(fake.arm(None, fake_iphone::Faults::default()));
    let mut damaged = record.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x01;
    std::fs::write(&record_path, &damaged).unwrap();
    outputs.push(lifeboat(&fake, &home, &["info"]));
    std::fs::write(&record_path, &record).unwrap();
    outputs.push(lifeboat(&fake, &home, &["unpair"]));

    for (n, out) in outputs.iter().enumerate() {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains("PRIVATE KEY"), "output {n} shows a private key:\n{all}");
        for secret in &secrets {
            assert!(
                !all.contains(secret.as_str()),
                "output {n} contains key material {secret}:\n{all}"
            );
        }
    }

    let parsed = lockdown::PairRecord::from_bytes(&record).unwrap();
    let debug = format!("{parsed:?}");
    for secret in &secrets {
        assert!(!debug.contains(secret.as_str()), "Debug shows key material: {debug}");
    }
}
