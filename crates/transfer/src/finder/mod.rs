//! `finder`: the device backup folders Finder, iTunes, Apple Devices and idevicebackup2
//! make (docs/backup.md §2, docs/backup-encryption.md): writing them as `lifeboat backup`
//! does, finding them, describing them, and proving them whole, plain or encrypted.
//!
//! Writing (the host side of `lifeboat backup`):
//! - [`job`]: the run, as Finder and `idevicebackup2` make it (docs/backup.md §1.9).
//! - [`store`]: the device's folder requests on a local folder, files written new and hashed.
//! - [`versions`]: dated versions sharing files by hard link, and the kill-safe switch-over.
//! - [`digests`]: lifeboat's own SHA-256 manifest of each version.
//! - [`notify`], [`apps`], [`info_plist`]: the helper services and the host-written Info.plist.
//! - [`problems`]: what is wrong with a folder the device refused to add to.
//!
//! Reading:
//! - [`layout`]: where things are in the folder; fileID = SHA-1(domain-relativePath).
//! - [`plists`]: Status.plist, Manifest.plist, Info.plist.
//! - [`manifest_db`]: Manifest.db, read-only on a private copy; [`mbfile`]: its records.
//! - [`keybag`] and [`crypto`]: the password, the class keys, AES key wrap, AES-CBC.
//! - [`list`]: the backups on this computer, from their plists alone; [`size_cache`]: their
//!   sizes, counted once per backup run.
//! - [`read`]: the files of a backup as a tree of domains, listed and streamed (decrypted).
//! - [`verify`]: every check of a backup folder, in the photo verify's vocabulary.

pub mod apps;
pub mod crypto;
pub mod digests;
pub mod info_plist;
pub mod job;
pub mod keybag;
pub mod layout;
pub mod list;
pub mod manifest_db;
pub mod mbfile;
pub mod notify;
pub mod plists;
pub mod problems;
pub mod read;
pub mod size_cache;
pub mod store;
pub mod verify;
pub mod versions;
