//! What every fuzz target shares: an allocator that aborts when decoding an input holds
//! far more memory than the input's size could justify. A length field trusted before the
//! bytes behind it arrive ("64 MiB follow", then nothing) is the classic way a hostile
//! device makes a decoder allocate without bound; libFuzzer reports the abort as a crash
//! and keeps the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes a decoder may hold per input byte: parsed structures (Strings, Vecs, plist
/// dictionaries) cost a few times their encoding, not more.
pub const BYTES_PER_INPUT_BYTE: usize = 32;
/// Fixed headroom for buffers that do not depend on the input (a 64 KiB read buffer, the
/// first step of a body buffer).
pub const FIXED_HEADROOM: usize = 1 << 20;

struct BoundedAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Live bytes allowed while a decoder runs; `usize::MAX` outside of [`bounded`].
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

#[global_allocator]
static ALLOCATOR: BoundedAllocator = BoundedAllocator;

impl BoundedAllocator {
    fn grew(&self, by: usize) {
        let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        if live > LIMIT.load(Ordering::Relaxed) {
            // An allocator must not unwind, and must not allocate here: write and abort.
            let message = b"\nlifeboat-fuzz: a decoder holds more memory than its input justifies\n";
            // SAFETY: writing a static buffer to stderr.
            unsafe { libc_write(2, message.as_ptr(), message.len()) };
            std::process::abort();
        }
    }
}

unsafe extern "C" {
    #[link_name = "write"]
    fn libc_write(fd: i32, buf: *const u8, count: usize) -> isize;
}

// SAFETY: every call is passed to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for BoundedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            self.grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            self.grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

/// Runs `decode` on `input` with the memory it may hold bounded by the input's size.
pub fn bounded<T>(input: &[u8], decode: impl FnOnce(&[u8]) -> T) -> T {
    // A failed assertion's report (message, backtrace) must not be cut short by the bound.
    static LIFT_ON_PANIC: std::sync::Once = std::sync::Once::new();
    LIFT_ON_PANIC.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            LIMIT.store(usize::MAX, Ordering::Relaxed);
            report(info);
        }));
    });
    let allowed = input
        .len()
        .saturating_mul(BYTES_PER_INPUT_BYTE)
        .saturating_add(FIXED_HEADROOM);
    LIMIT.store(LIVE.load(Ordering::Relaxed).saturating_add(allowed), Ordering::Relaxed);
    let out = decode(input);
    LIMIT.store(usize::MAX, Ordering::Relaxed);
    out
}
