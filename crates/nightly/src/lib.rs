//! Backups that run by themselves: the phone charges on the desk overnight, iCloud has
//! failed, and the computer copies what is new.
//!
//! [`config`] is what the user wrote down, [`backup`] one unattended run (with
//! [`device_backup`], its full device backup when due), [`status`] what the runs left behind,
//! [`doctor`] the iCloud checklist, and [`schedule`] the units each platform's scheduler needs.

pub mod backup;
pub mod config;
pub mod device_backup;
pub mod doctor;
pub mod schedule;
pub mod status;
