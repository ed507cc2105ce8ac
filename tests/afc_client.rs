//! The AFC client against the simulator: listing, file info, pipelined fetches of many
//! files, and the errors a phone gives.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io;

use afc::AfcStatus;
use afc::client::{AfcError, FetchSink, RemoteFile};
use afc::kv::FileKind;
use common::*;
use fake_iphone::TrustState;
use lockdown::LockdownClient;
use usbmux::{UsbmuxAddress, UsbmuxClient};

fn open_afc(fake: &fake_iphone::RunningFake) -> afc::AfcClient<lockdown::ServiceStream> {
    let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).unwrap());
    let device = mux.list_devices().unwrap().remove(0);
    let mut lockdown = LockdownClient::connect(&mux, &device).unwrap();
    let buid = mux.read_buid().unwrap();
    let record = lockdown
        .pair(&buid, "test", std::time::Duration::from_secs(5), |_| {})
        .unwrap();
    afc::connect::connect(&mux, &device, &record).expect("AFC")
}

fn assert_status(err: &AfcError, expected: AfcStatus) {
    assert!(
        matches!(err, AfcError::Status { status, .. } if *status == expected),
        "expected {expected}, got {err}"
    );
}

/// Distinct content per file, so any mix-up shows.
fn content(n: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + n * 7) % 251) as u8).collect()
}

#[derive(Default)]
struct Collect {
    files: HashMap<usize, Vec<u8>>,
    outcomes: HashMap<usize, Result<u64, String>>,
    order: Vec<usize>,
}

impl FetchSink for Collect {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.order.push(index);
        self.files.insert(index, Vec::new());
        Ok(())
    }
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        self.files.get_mut(&index).expect("begun").extend_from_slice(bytes);
        Ok(())
    }
    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        self.outcomes.insert(index, outcome.map_err(|e| e.to_string()));
        Ok(())
    }
}

#[test]
fn lists_stats_and_fetches_many_files_in_flight() {
    let (fake, media) = fake_with(TrustState::Trusted);
    let dir = media.path().join("DCIM/100APPLE");
    fs::create_dir_all(&dir).unwrap();
    let sizes = [0usize, 1, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_000_001];
    let mut files = Vec::new();
    for (n, &len) in sizes.iter().enumerate() {
        let name = format!("IMG_{:04}.HEIC", n + 1);
        fs::write(dir.join(&name), content(n, len)).unwrap();
        files.push(RemoteFile {
            path: format!("/DCIM/100APPLE/{name}"),
            size: len as u64,
        });
    }
    let mut afc = open_afc(&fake);
    assert_eq!(afc.list_dir("/DCIM").unwrap(), vec!["100APPLE"]);
    assert_eq!(afc.list_dir("DCIM/100APPLE/").unwrap().len(), sizes.len());
    let info = afc.file_info("/DCIM/100APPLE/IMG_0007.HEIC").unwrap();
    assert_eq!((info.kind, info.size), (FileKind::File, 3_000_001));
    assert!(info.mtime_ns > 1_500_000_000_000_000_000, "nanoseconds since 1970");
    assert_eq!(afc.file_info("/DCIM").unwrap().kind, FileKind::Directory);
    let device = afc.device_info().unwrap();
    assert_eq!(device.model, "iPhone15,2");

    // Small chunks and a small window force many requests in flight across files.
    let mut sink = Collect::default();
    afc.fetch(&files, 256 << 10, 4, &mut sink).unwrap();
    assert_eq!(sink.order, (0..files.len()).collect::<Vec<_>>());
    for (n, &len) in sizes.iter().enumerate() {
        assert_eq!(sink.outcomes[&n], Ok(len as u64), "file {n}");
        assert!(sink.files[&n] == content(n, len), "file {n} content differs");
    }
    // The connection is still in step afterwards.
    assert_eq!(afc.list_dir("/").unwrap(), vec!["DCIM"]);
}

#[test]
fn per_file_failures_do_not_stop_the_others() {
    let (fake, media) = fake_with(TrustState::Trusted);
    fs::write(media.path().join("a.JPG"), content(1, 5000)).unwrap();
    fs::write(media.path().join("b.JPG"), content(2, 5000)).unwrap();
    let files = vec![
        RemoteFile {
            path: "/missing.JPG".into(),
            size: 10,
        },
        RemoteFile {
            path: "/a.JPG".into(),
            size: 4000,
        }, // the phone reports less than it sends
        RemoteFile {
            path: "/b.JPG".into(),
            size: 6000,
        }, // ... and more than it sends
        RemoteFile {
            path: "/a.JPG".into(),
            size: 5000,
        },
    ];
    let mut afc = open_afc(&fake);
    let mut sink = Collect::default();
    afc.fetch(&files, 1 << 20, 8, &mut sink).unwrap();
    assert!(
        sink.outcomes[&0].as_ref().unwrap_err().contains("no such file"),
        "{:?}",
        sink.outcomes[&0]
    );
    assert!(
        sink.outcomes[&1].as_ref().unwrap_err().contains("more than"),
        "{:?}",
        sink.outcomes[&1]
    );
    assert!(
        sink.outcomes[&2].as_ref().unwrap_err().contains("reported 6000"),
        "{:?}",
        sink.outcomes[&2]
    );
    assert_eq!(sink.outcomes[&3], Ok(5000));

    let err = afc.list_dir("/a.JPG").unwrap_err();
    assert_status(&err, AfcStatus::ReadError);
    let err = afc.file_info("/nope").unwrap_err();
    assert_status(&err, AfcStatus::ObjectNotFound);
}

#[test]
fn paths_cannot_leave_the_media_folder() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"secret").unwrap();
    let (fake, media) = fake_with(TrustState::Trusted);
    std::os::unix::fs::symlink(outside.path(), media.path().join("escape")).unwrap();
    fs::write(media.path().join("inside"), b"inside").unwrap();
    let mut afc = open_afc(&fake);
    // .. cannot climb above the root: it stays at the root.
    assert_eq!(afc.list_dir("/../../..").unwrap(), afc.list_dir("/").unwrap());
    // A symlink out of the tree is described but never followed.
    assert_eq!(afc.file_info("/escape").unwrap().kind, FileKind::Symlink);
    let err = afc.list_dir("/escape").unwrap_err();
    assert_status(&err, AfcStatus::PermDenied);
    let err = afc.open("/escape/secret", afc::codec::OpenMode::ReadOnly).unwrap_err();
    assert_status(&err, AfcStatus::PermDenied);
    let err = afc.open("/escape/new", afc::codec::OpenMode::WriteOnly).unwrap_err();
    assert_status(&err, AfcStatus::PermDenied);
    assert!(!outside.path().join("new").exists());
}

/// A simulator whose one phone has `faults`, with `count` files of `size` bytes.
fn faulty(
    faults: fake_iphone::Faults,
    count: usize,
    size: usize,
) -> (fake_iphone::RunningFake, tempfile::TempDir, Vec<RemoteFile>) {
    let media = tempfile::tempdir().unwrap();
    let dir = media.path().join("DCIM/100APPLE");
    fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for n in 0..count {
        let name = format!("IMG_{:04}.JPG", n + 1);
        fs::write(dir.join(&name), content(n, size)).unwrap();
        files.push(RemoteFile {
            path: format!("/DCIM/100APPLE/{name}"),
            size: size as u64,
        });
    }
    let fake = fake_iphone::FakeIphone::new()
        .phone(fake_iphone::PhoneConfig::new(UDID, media.path()).faults(faults))
        .start()
        .unwrap();
    (fake, media, files)
}

#[test]
fn connection_faults_are_typed_errors_not_hangs() {
    let cases: Vec<(&str, fake_iphone::Faults)> = vec![
        (
            "drop",
            fake_iphone::Faults {
                drop_after: Some(150_000),
                ..Default::default()
            },
        ),
        (
            "detach",
            fake_iphone::Faults {
                detach_after: Some(150_000),
                ..Default::default()
            },
        ),
        (
            "stall",
            fake_iphone::Faults {
                stall_after: Some(150_000),
                ..Default::default()
            },
        ),
    ];
    for (name, faults) in cases {
        let (fake, _media, files) = faulty(faults, 5, 100_000);
        let mut afc = open_afc(&fake);
        afc.get_ref()
            .socket()
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut sink = Collect::default();
        let err = afc.fetch(&files, 64 << 10, 4, &mut sink).expect_err(name);
        match name {
            "stall" => assert!(matches!(err, AfcError::Timeout(_)), "{name}: {err}"),
            _ => assert!(matches!(err, AfcError::Disconnected(_)), "{name}: {err}"),
        }
        assert!(
            err.to_string().contains("phone"),
            "{name}: the message names the phone: {err}"
        );
        assert_eq!(fake.faults_fired(None), vec![name]);
        // Files that completed before the fault are whole; none completed after it.
        for (index, outcome) in &sink.outcomes {
            assert_eq!(outcome, &Ok(100_000), "{name}: file {index}");
            assert!(sink.files[index] == content(*index, 100_000));
        }
        assert!(sink.outcomes.len() < 5, "{name}: the fault stopped the transfer");
    }
}

#[test]
fn data_faults_corrupt_or_misreport() {
    let (fake, _media, files) = faulty(
        fake_iphone::Faults {
            corrupt_at: Some(123_456),
            ..Default::default()
        },
        3,
        100_000,
    );
    let mut sink = Collect::default();
    open_afc(&fake).fetch(&files, 1 << 20, 8, &mut sink).unwrap();
    // AFC has no checksum: the flipped bit arrives; only a comparison can find it.
    assert_ne!(sink.files[&1], content(1, 100_000));
    assert_eq!(sink.files[&1][23_456], content(1, 100_000)[23_456] ^ 0x10);
    assert!(sink.files[&0] == content(0, 100_000) && sink.files[&2] == content(2, 100_000));

    let (fake, _media, _) = faulty(
        fake_iphone::Faults {
            wrong_size: Some(("IMG_0002".into(), -10)),
            ..Default::default()
        },
        3,
        1000,
    );
    let mut afc = open_afc(&fake);
    assert_eq!(afc.file_info("/DCIM/100APPLE/IMG_0002.JPG").unwrap().size, 990);
    let files = vec![RemoteFile {
        path: "/DCIM/100APPLE/IMG_0002.JPG".into(),
        size: 990,
    }];
    let mut sink = Collect::default();
    afc.fetch(&files, 1 << 20, 8, &mut sink).unwrap();
    assert!(
        sink.outcomes[&0].as_ref().unwrap_err().contains("more than the 990"),
        "{:?}",
        sink.outcomes[&0]
    );
}

#[test]
fn positioned_reads_seek_tell_and_lock() {
    let (fake, media) = fake_with(TrustState::Trusted);
    fs::write(media.path().join("f.bin"), content(9, 10_000)).unwrap();
    let mut afc = open_afc(&fake);
    let handle = afc.open("/f.bin", afc::codec::OpenMode::ReadOnly).unwrap();
    afc.lock(handle, 6 | 4).unwrap();
    assert_eq!(afc.read_at(handle, 9_000, 5_000).unwrap(), content(9, 10_000)[9_000..]);
    assert_eq!(
        afc.tell(handle).unwrap(),
        0,
        "a positioned read leaves the position alone"
    );
    afc.seek(handle, 0, 100).unwrap();
    assert_eq!(afc.read(handle, 10).unwrap(), content(9, 10_000)[100..110]);
    assert_eq!(afc.tell(handle).unwrap(), 110);
    afc.seek(handle, 2, -10).unwrap();
    assert_eq!(
        afc.read(handle, 100).unwrap(),
        content(9, 10_000)[9_990..],
        "short read at the end"
    );
    assert_eq!(afc.read(handle, 100).unwrap(), Vec::<u8>::new(), "empty at EOF");
    afc.close(handle).unwrap();
    let err = afc.close(handle).unwrap_err();
    assert_status(&err, AfcStatus::InvalidArg);
}
