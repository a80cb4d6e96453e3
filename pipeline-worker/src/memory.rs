//! How the worker's heap gives memory back to the system.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for reuse, and gives pages
//! back only from an arena's top, beyond a threshold that itself rises after every large free. A
//! burst — the backlog read after a broker outage, a bulk request of the full flush size — leaves
//! megabytes free in several arenas that no later, smaller load touches again, so resident memory
//! stepped up with each outage although the live heap stayed flat (the soak benchmark showed it).
//! Two measures, both needed:
//!
//! - [`configure_allocator`], once at start-up, before any thread exists:
//!   - **one arena.** A thread that finds an arena locked gets a new one, up to eight per core.
//!     Each burst then leaves its own partly used pages in whichever arenas it happened to touch,
//!     so the resident size moved up or down by about a megabyte at every outage. With one arena
//!     those fragments are shared and reused. The worker's threads allocate little per event
//!     outside the pipeline task's own thread, so the lock is rarely contended.
//!   - **a fixed mmap threshold.** glibc raises the threshold to the size of each large block
//!     freed, so after the first bulk body was freed, later ones were carved out of the arena and
//!     fragmented it. With the threshold fixed, blocks above it (bulk bodies, fetch responses)
//!     get their own mappings, which go back to the system when they are freed.
//! - [`release_free_heap`], on a slow timer ([`RELEASE_INTERVAL`]): `malloc_trim` returns the free
//!   pages inside the arena, wherever they lie. It locks the arena while it walks it, so it never
//!   runs per flush.
//!
//! An operator who sets `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` keeps those settings.

use std::time::Duration;

/// How often freed memory is handed back.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// Blocks of at least this many bytes get their own mapping.
pub const MMAP_THRESHOLD_BYTES: usize = 256 * 1024;

/// Sets up glibc's allocator as the module doc explains: one arena, a fixed mmap threshold.
/// Call it at start-up before any thread is spawned; `false` when the operator's environment
/// already tunes the allocator, or glibc refused a setting.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn configure_allocator() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return false;
    }
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD_BYTES).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and changes only glibc's allocator parameters, under its
    // own lock; both settings are valid at any time (they govern later allocations only).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1) == 1
            && libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) == 1
    }
}

/// Other allocators have no such settings.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure_allocator() -> bool {
    false
}

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

    /// The tests read the process's resident size, so they must not run beside each other.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    static RESIDENT_SIZE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn large_blocks_go_back_to_the_system_when_freed_even_after_a_larger_one() {
        let _alone = RESIDENT_SIZE.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            configure_allocator(),
            "glibc refused a setting, or MALLOC_ARENA_MAX / GLIBC_TUNABLES is set for the test"
        );
        // Unconfigured, freeing this raises glibc's mmap threshold above the blocks below, which
        // then come from the arena and stay resident after they are freed.
        drop(vec![1u8; 8 << 20]);
        let mut blocks = Vec::new();
        let mut pins = Vec::new();
        for i in 0..64u32 {
            blocks.push(vec![i as u8; 2 * MMAP_THRESHOLD_BYTES]);
            pins.push(vec![i as u8; 64]);
        }
        let before = resident_kib();
        drop(blocks);
        let after = resident_kib();
        assert!(
            before.saturating_sub(after) > 16 * 1024,
            "resident {before} KiB before, {after} KiB after"
        );
        drop(pins);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn memory_freed_after_a_burst_goes_back_to_the_system() {
        let _alone = RESIDENT_SIZE.lock().unwrap_or_else(|e| e.into_inner());
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
