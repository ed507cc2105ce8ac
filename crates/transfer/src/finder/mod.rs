//! `finder`: reading the device backup folders Finder, iTunes, Apple Devices and
//! idevicebackup2 make (docs/backup.md §2, docs/backup-encryption.md): finding them,
//! describing them, and proving them whole, plain or encrypted.
//!
//! - [`layout`]: where things are in the folder; fileID = SHA-1(domain-relativePath).
//! - [`plists`]: Status.plist, Manifest.plist, Info.plist.
//! - [`manifest_db`]: Manifest.db, read-only on a private copy; [`mbfile`]: its records.
//! - [`keybag`] and [`crypto`]: the password, the class keys, AES key wrap, AES-CBC.
//! - [`list`]: the backups on this computer, from their plists alone.
//! - [`verify`]: every check of a backup folder, in the photo verify's vocabulary.

pub mod crypto;
pub mod keybag;
pub mod layout;
pub mod list;
pub mod manifest_db;
pub mod mbfile;
pub mod plists;
pub mod verify;
