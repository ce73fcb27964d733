//! Giving freed heap memory back to the OS after a burst. The binary allocates with
//! mimalloc (`#[global_allocator]` in `main.rs`); other hosts of the library (the test
//! binaries, the fuzz targets) use the system allocator. [`release_free`] asks both, so it
//! does the right thing in either: each call is harmless for an allocator not in use.

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3 headers; the sys crate
/// names its neighbours 14 and 16 but not this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Called first thing in `main`: mimalloc returns freed pages at once instead of after its
/// default 10 ms delay. Measured with 100k alerts posted as `benches/alerts.sh` posts them
/// (three runs each): RSS settled at 75–79 MiB instead of 81–109 MiB, with the same CPU per
/// alert. `MIMALLOC_PURGE_DELAY` in the environment still wins (mimalloc's own knob).
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option; mimalloc reads options atomically.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// Returns free pages of mimalloc's heaps and of glibc's arenas to the OS.
pub fn release_free() {
    // SAFETY: `mi_collect` takes no pointers; with `force` it frees and decommits the free
    // pages of the calling thread's heap and abandoned segments (thread-safe by design).
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's `malloc_trim` takes no pointers and only releases memory that is
        // free in its own arenas; it is thread-safe (it locks each arena).
        unsafe {
            malloc_trim(0);
        }
    }
}
