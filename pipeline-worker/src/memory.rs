//! Hands the heap memory the worker has freed back to the system.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for reuse, and gives pages
//! back only from an arena's top, beyond a threshold that itself rises after every large free. A
//! burst — the backlog read after a broker outage, a bulk request of the full flush size — leaves
//! megabytes free in several arenas that no later, smaller load touches again, so resident memory
//! stepped up with each outage although the live heap stayed flat (the soak benchmark showed it).
//! `malloc_trim` returns the free pages of every arena, wherever they lie.
//!
//! It locks each arena in turn while it walks it, so it runs on a slow timer
//! ([`RELEASE_INTERVAL`]), never per flush.

use std::time::Duration;

/// How often freed memory is handed back.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// Returns the allocator's free pages to the system; `true` when it gave any back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_heap() -> bool {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's own free lists, under the
    // same arena locks as malloc and free; it may be called from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators (musl's, another platform's) return freed memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_heap() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn memory_freed_after_a_burst_goes_back_to_the_system() {
        fn resident_kib() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
        // Blocks below the mmap threshold, each followed by a small one that stays alive, so
        // that the freed blocks cannot merge into free space at the arena's top, which glibc
        // would give back on its own.
        let mut blocks = Vec::new();
        let mut pins = Vec::new();
        for i in 0..2_000u32 {
            blocks.push(vec![i as u8; 16 * 1024]);
            pins.push(vec![i as u8; 64]);
        }
        drop(blocks);
        let before = resident_kib();
        release_free_heap();
        let after = resident_kib();
        assert!(
            before.saturating_sub(after) > 16 * 1024,
            "resident {before} KiB before, {after} KiB after"
        );
        drop(pins);
    }
}
