//! Giving freed memory back to the operating system.
//!
//! glibc's allocator keeps freed pages in its per-thread arenas: after 1,000 WebSocket
//! subscribers left, a gateway's RSS stayed at its peak (measured by `tests/soak.rs`: 44 MiB
//! at start, 86 MiB at the peak and still 86 MiB afterwards, with every socket closed).
//! `malloc_trim` returns those pages; run every few seconds it costs nothing when there is
//! nothing to return. The binary allocates through jemalloc, which a background thread purges
//! after a second (`MALLOC_CONF` in main.rs); the trim purges it at once too.

use std::time::Duration;

/// How often freed memory is handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Trims the heap on a schedule for the life of the process (glibc only; a no-op elsewhere).
pub fn spawn_trim() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            trim();
        }
    });
}

/// Returns free heap pages to the operating system now: jemalloc's (the binary's allocator)
/// and glibc's (SQLite's C code allocates there).
pub fn trim() {
    #[cfg(feature = "jemalloc")]
    // SAFETY: `arena.4096.purge` (4096 is jemalloc 5's MALLCTL_ARENAS_ALL: every arena) takes
    // no input or output; the name is a NUL-terminated static string.
    unsafe {
        let name = b"arena.4096.purge\0";
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
