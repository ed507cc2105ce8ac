//! The test kit in `tests/common` checked on its own: what its walkers list and leave out,
//! and that its random numbers and hashes are the ones the tests were written against.

mod common;

use std::path::Path;

use common::rng::Xorshift64;
use common::tree::{self, Links};
use common::*;

/// An export-like folder: photos, SHA256SUMS files, lifeboat's folder, a temporary, a
/// symbolic link to a photo.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, bytes) in [
        ("2019/01/IMG_0001.HEIC", &b"one"[..]),
        ("2019/01/SHA256SUMS", b"sums"),
        ("2019/02/.IMG_0002.HEIC.lifeboat-part", b"part"),
        (".lifeboat/manifest.db", b"db"),
        ("SHA256SUMS", b"sums"),
    ] {
        std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
        std::fs::write(root.join(path), bytes).unwrap();
    }
    std::os::unix::fs::symlink(root.join("2019/01/IMG_0001.HEIC"), root.join("2019/link.HEIC")).unwrap();
    dir
}

fn rels(root: &Path, paths: Vec<std::path::PathBuf>) -> Vec<String> {
    let mut out: Vec<String> = paths.iter().map(|p| tree::rel(root, p)).collect();
    out.sort();
    out
}

#[test]
fn walkers_list_what_they_say() {
    let dir = sample();
    let root = dir.path();
    let everything = [
        ".lifeboat/manifest.db",
        "2019/01/IMG_0001.HEIC",
        "2019/01/SHA256SUMS",
        "2019/02/.IMG_0002.HEIC.lifeboat-part",
        "2019/link.HEIC",
        "SHA256SUMS",
    ];
    assert_eq!(rels(root, tree::files(root)), everything);
    assert_eq!(rels(root, tree::files_if_readable(root)), everything);
    assert!(tree::files_if_readable(&root.join("gone")).is_empty());
    assert_eq!(
        rels(root, tree::regular_files(root, Links::Skip)),
        [
            ".lifeboat/manifest.db",
            "2019/01/IMG_0001.HEIC",
            "2019/01/SHA256SUMS",
            "2019/02/.IMG_0002.HEIC.lifeboat-part",
            "SHA256SUMS",
        ]
    );
    let mut exported = tree::exported(root);
    exported.sort();
    assert_eq!(
        exported,
        [
            "2019/01/IMG_0001.HEIC",
            "2019/02/.IMG_0002.HEIC.lifeboat-part",
            "2019/link.HEIC"
        ]
    );
    let hashes = tree::exported_hashes(root);
    assert_eq!(hashes["2019/link.HEIC"], sha(b"one"), "a link is read through");
    assert_eq!(tree::hashes(root).len(), everything.len());
    assert_eq!(rels(root, tree::export_dirs(root)), ["", "2019", "2019/01", "2019/02"]);
}

#[test]
#[should_panic(expected = "a symbolic link was written")]
fn a_link_fails_a_walk_that_forbids_them() {
    let dir = sample();
    tree::regular_files(dir.path(), Links::Fail);
}

#[test]
#[should_panic(expected = "walking")]
fn an_unreadable_folder_fails_a_strict_walk() {
    tree::files(Path::new("/nonexistent/folder"));
}

#[test]
fn hashes_and_random_numbers_are_the_known_ones() {
    assert_eq!(
        sha(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // xorshift64* and plain xorshift64 (13, 7, 17), worked by hand from seed 1.
    let mut rng = Rng(1);
    assert_eq!(rng.next(), 0x47E4_CE4B_896C_DD1D);
    let mut plain = Xorshift64(1);
    assert_eq!(plain.next(), 0x4082_2041);
    // The same seed gives the same numbers.
    let (mut a, mut b) = (Rng(0xC0FF_EE00_D15C_0001), Rng(0xC0FF_EE00_D15C_0001));
    for _ in 0..1000 {
        assert_eq!(a.below(7), b.below(7));
    }
    assert_eq!(Rng(5).below(0), 0);
    let seed = [7u8; 32];
    let mutated = Rng(9).mutate(&seed);
    assert_eq!(mutated, Rng(9).mutate(&seed));
}

#[test]
#[should_panic(expected = "\"tap Trust\" is not in:\nError: the phone is locked")]
fn assert_contains_fails_showing_the_whole_text() {
    assert_contains("Error: the phone is locked", "Error: the phone");
    assert_contains("Error: the phone is locked", "tap Trust");
}

#[test]
fn peers_are_found_in_the_order_asked() {
    let [sh, sha256sum] = peers(["sh", "sha256sum"]).expect("sh and sha256sum are installed");
    assert!(sh.ends_with("sh") && sh.is_file(), "{}", sh.display());
    assert!(sha256sum.ends_with("sha256sum"), "{}", sha256sum.display());
}
