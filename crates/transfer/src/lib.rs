//! What lifeboat does with the phone's files: the photo library model, export with a
//! manifest, turning device names into safe local names, writing files so that only
//! complete ones ever appear, and pulling folders; and the allocator its binaries install,
//! which keeps large I/O buffers page-aligned.

pub mod atomic;
pub mod content;
pub mod export;
pub mod library;
pub mod load;
pub mod manifest;
pub mod names;
pub mod page_aligned;
pub mod pull;
pub mod sinks;
pub mod threaded;
pub mod verify;
pub mod walk;
