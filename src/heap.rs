//! Giving freed heap memory back to the OS after a burst. The binary allocates with
//! mimalloc (`#[global_allocator]` in `main.rs`); other hosts of the library (the test
//! binaries, the fuzz targets) use the system allocator. [`release_free`] asks both, so it
//! does the right thing in either: each call is harmless for an allocator not in use.

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
