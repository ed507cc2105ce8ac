//! A global allocator that starts I/O-sized allocations (64 KiB to 4 MiB) on a page boundary.
//!
//! glibc serves large allocations from mmap behind a 16-byte header, so a 1 MiB read buffer
//! starts 16 bytes past a page boundary. The kernel copies socket and file data into it from
//! page-aligned memory (socket buffers, the page cache). On AMD Zen, a copy whose destination
//! lies 8 or 16 bytes past its source, modulo 4 KiB, runs at about 2 GB/s instead of 14. Its
//! loads falsely wait on the stores just before them (4K aliasing). This was measured with
//! `rep movsb`, which the kernel's `copy_to_user` uses, and with glibc's `memcpy` alike. Over
//! loopback, that was a third of lifeboat's system time. Starting large buffers on a page
//! keeps the copies aligned with page-aligned sources, which are the usual ones.
//!
//! Binaries install it with `#[global_allocator]`. Small and very large allocations are
//! untouched.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of this many bytes or more start on a page boundary.
pub const LARGE: usize = 64 << 10;
/// Up to this size: I/O buffers (read pieces of 64 KiB to a few MiB). Larger blocks are
/// left to the system, which grows them in place (mremap) where an aligned block would be
/// copied, and a copy doubles a large vector's memory while it lasts.
pub const LARGEST: usize = 4 << 20;
const PAGE: usize = 4096;

/// [`System`], with allocations of [`LARGE`] to [`LARGEST`] bytes aligned to 4 KiB.
pub struct PageAlignedLarge;

/// The layout an allocation of `layout` is actually made with. `dealloc` and `realloc` must
/// use it too, so the rule depends on the size alone.
fn actual(layout: Layout) -> Layout {
    if (LARGE..=LARGEST).contains(&layout.size()) && layout.align() < PAGE {
        // Fails only if the size rounded up to a page passes isize::MAX; then the
        // caller's own layout is kept.
        Layout::from_size_align(layout.size(), PAGE).unwrap_or(layout)
    } else {
        layout
    }
}

unsafe impl GlobalAlloc for PageAlignedLarge {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `actual` keeps the size, which the caller guarantees is non-zero, and
        // yields a valid layout.
        unsafe { System.alloc(actual(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(actual(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` with `actual(layout)`.
        unsafe { System.dealloc(ptr, actual(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` forms a valid layout with `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_actual, new_actual) = (actual(layout), actual(new_layout));
        if old_actual.align() == new_actual.align() {
            // Same alignment either side: the system may grow or shrink in place.
            // SAFETY: `ptr` was allocated with `old_actual`, and the new block keeps its
            // alignment, which is `new_actual`'s.
            return unsafe { System.realloc(ptr, old_actual, new_size) };
        }
        // Crossing the threshold changes the alignment: move the bytes to a new block.
        // SAFETY: `new_actual` is a valid non-zero layout; both blocks hold at least the
        // bytes copied, and they are distinct allocations.
        unsafe {
            let new_ptr = System.alloc(new_actual);
            if !new_ptr.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                System.dealloc(ptr, old_actual);
            }
            new_ptr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(allocator: &PageAlignedLarge, size: usize) -> *mut u8 {
        let layout = Layout::from_size_align(size, 1).unwrap();
        let ptr = unsafe { allocator.alloc(layout) };
        assert!(!ptr.is_null());
        for i in 0..size {
            unsafe { ptr.add(i).write((i % 251) as u8) };
        }
        ptr
    }

    fn holds_pattern(ptr: *const u8, size: usize) -> bool {
        (0..size).all(|i| unsafe { ptr.add(i).read() } == (i % 251) as u8)
    }

    #[test]
    fn large_blocks_start_on_a_page_and_small_ones_are_left_alone() {
        let allocator = PageAlignedLarge;
        for size in [LARGE, 1 << 20, (1 << 20) + 7] {
            let ptr = filled(&allocator, size);
            assert_eq!(ptr as usize % PAGE, 0, "{size} bytes");
            unsafe { allocator.dealloc(ptr, Layout::from_size_align(size, 1).unwrap()) };
        }
        let small = Layout::from_size_align(100, 8).unwrap();
        assert_eq!(actual(small), small);
        let huge = Layout::from_size_align(LARGEST + 1, 8).unwrap();
        assert_eq!(actual(huge), huge, "blocks past the I/O sizes grow in place");
        let big_and_aligned = Layout::from_size_align(LARGE, 2 * PAGE).unwrap();
        assert_eq!(actual(big_and_aligned), big_and_aligned, "a stricter alignment is kept");
    }

    #[test]
    fn growing_and_shrinking_across_the_threshold_keeps_the_bytes() {
        let allocator = PageAlignedLarge;
        // Small to large: moved, and now on a page.
        let ptr = filled(&allocator, 1000);
        let grown = unsafe { allocator.realloc(ptr, Layout::from_size_align(1000, 1).unwrap(), 1 << 20) };
        assert_eq!(grown as usize % PAGE, 0);
        assert!(holds_pattern(grown, 1000));
        // Large to larger: still on a page.
        for i in 1000..(1 << 20) {
            unsafe { grown.add(i).write((i % 251) as u8) };
        }
        let larger = unsafe { allocator.realloc(grown, Layout::from_size_align(1 << 20, 1).unwrap(), 3 << 20) };
        assert_eq!(larger as usize % PAGE, 0);
        assert!(holds_pattern(larger, 1 << 20));
        // Past the I/O sizes: moved out of the aligned band, bytes kept.
        let huge = unsafe { allocator.realloc(larger, Layout::from_size_align(3 << 20, 1).unwrap(), 8 << 20) };
        assert!(holds_pattern(huge, 1 << 20));
        // Down to small: the first bytes survive, and the block is freed as a small one.
        let shrunk = unsafe { allocator.realloc(huge, Layout::from_size_align(8 << 20, 1).unwrap(), 500) };
        assert!(holds_pattern(shrunk, 500));
        unsafe { allocator.dealloc(shrunk, Layout::from_size_align(500, 1).unwrap()) };
    }
}
