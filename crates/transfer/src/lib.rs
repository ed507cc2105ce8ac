//! What lifeboat does with the phone's files: turning device names into safe local names,
//! writing files so that only complete ones ever appear, and pulling folders.

pub mod atomic;
pub mod names;
pub mod pull;
