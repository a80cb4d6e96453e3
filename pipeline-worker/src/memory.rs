//! How the worker's heap gives memory back to the system.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena for reuse, and gives pages
//! back only from an arena's top, beyond a threshold that itself rises after every large free. A
//! burst — the backlog read after a broker outage, a bulk request of the full flush size — leaves
//! megabytes free in several arenas that no later, smaller load touches again, so resident memory
//! stepped up with each outage although the live heap stayed flat (the soak benchmark showed it).
//! Two measures, both needed:
//!
//! - [`release_free_heap`], on a slow timer ([`RELEASE_INTERVAL`]): `malloc_trim` returns the free
//!   pages of every arena, wherever they lie. It locks each arena while it walks it, so it never
//!   runs per flush.
//! - [`configure_allocator`], once at start-up, before any thread exists: **one arena.** glibc
//!   gives every new thread an arena of its own, up to eight per core, and the worker has a dozen
//!   threads (tokio's, librdkafka's). What `malloc_trim` cannot return are the pages that free
//!   chunks share with live ones; each burst left such fragments in whichever arenas it touched,
//!   so the resident size moved up or down at every outage (the operator guide has the figure).
//!   In one arena the fragments are reused by the next burst instead. Small blocks are served from each thread's
//!   cache without the arena's lock, so sharing it costs little.
//!
//! An operator who sets `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` keeps those settings.

use std::time::Duration;

/// How often freed memory is handed back.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// Sets up glibc's allocator as the module doc explains: one arena for all threads. Call it at
/// start-up, before any thread is spawned; `false` when the operator's environment already tunes
/// the allocator, or glibc refused the setting.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn configure_allocator() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return false;
    }
    // SAFETY: mallopt takes two integers and changes only glibc's allocator parameters, under its
    // own lock; the arena limit is valid at any time (it governs threads' later first allocations).
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
}

/// Other allocators have no such setting.
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

    /// Set for the copy of the test binary that [`threads_share_one_arena`] runs.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    const ARENA_CHILD: &str = "FLOW_TEST_ARENA_CHILD";

    /// The arenas glibc reports on stderr (`malloc_stats` prints one `Arena N:` block each) of a
    /// fresh process that ran `threads_allocate_in_a_fresh_process`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn arenas_of_child(tune: bool) -> (usize, usize) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "memory::tests::threads_allocate_in_a_fresh_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ARENA_CHILD, if tune { "tune" } else { "plain" })
            .env_remove("MALLOC_ARENA_MAX")
            .env_remove("GLIBC_TUNABLES");
        let out = child.output().unwrap();
        assert!(out.status.success(), "child: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut reports = stderr
            .split("--- report\n")
            .skip(1)
            .map(|report| report.lines().filter(|l| l.starts_with("Arena ")).count());
        let before = reports.next().unwrap();
        let after = reports.next().unwrap();
        (before, after)
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn threads_share_one_arena() {
        // A process of its own: glibc hands the arenas of exited threads to new ones, so the
        // count in a test binary whose threads come and go says nothing.
        let (before, after) = arenas_of_child(false);
        assert!(
            after > before,
            "untuned, new threads get new arenas: {before} -> {after}"
        );
        let (before, after) = arenas_of_child(true);
        assert_eq!(
            before, after,
            "tuned, new threads share the arenas there are"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    #[ignore = "run by threads_share_one_arena in a process of its own"]
    #[allow(unsafe_code)]
    fn threads_allocate_in_a_fresh_process() {
        use std::io::Write as _;
        let Ok(mode) = std::env::var(ARENA_CHILD) else {
            return;
        };
        if mode == "tune" {
            assert!(configure_allocator());
        }
        let report = || {
            eprintln!("--- report");
            std::io::stderr().flush().unwrap();
            // SAFETY: malloc_stats takes no arguments and only reads glibc's statistics.
            unsafe { libc::malloc_stats() };
        };
        report();
        let held = std::sync::Arc::new(std::sync::Barrier::new(5));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let held = held.clone();
                std::thread::spawn(move || {
                    let block = vec![i as u8; 4096];
                    held.wait();
                    held.wait();
                    drop(block);
                })
            })
            .collect();
        held.wait();
        report();
        held.wait();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn memory_freed_after_a_burst_goes_back_to_the_system() {
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
