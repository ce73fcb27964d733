//! Giving memory back to the OS: freed heap after a burst ([`release_free`]), and the
//! binary's own pages that start-up touched ([`release_binary_pages`]). The binary allocates with
//! mimalloc (`#[global_allocator]` in `main.rs`); other hosts of the library (the test
//! binaries, the fuzz targets) use the system allocator. [`release_free`] asks both, so it
//! does the right thing in either: each call is harmless for an allocator not in use.

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3 headers; the sys crate
/// names its neighbours 14 and 16 but not this one).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The milliseconds mimalloc keeps a freed page committed before returning it to the OS
/// (mimalloc's own default, set explicitly so that it is a decision). A page freed and
/// reused within the delay costs no `madvise`, no TLB shootdown and no page fault: with 0
/// (returning at once), http `/probe` load spent 15 % more CPU per probe (0.193–0.201 vs
/// 0.157–0.174 CPU s per 1000 probes at c=128, `benches/compare.sh`). Memory freed after a
/// burst still goes back: after the delay, or at once where [`release_free`] is called.
const PURGE_DELAY_MS: std::os::raw::c_long = 10;

/// Called first thing in `main`: sets mimalloc's purge delay ([`PURGE_DELAY_MS`]).
/// `MIMALLOC_PURGE_DELAY` in the environment still wins (mimalloc's own knob).
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one integer option; mimalloc reads options atomically.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
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

/// After start-up or a reload: unmaps the binary pages they touched
/// ([`release_binary_pages`]) and returns free heap pages ([`release_free`]).
pub fn release_after_start(after: &'static str) {
    let bytes = release_binary_pages();
    release_free();
    tracing::debug!(
        message = "Released the binary's start-up pages",
        after,
        bytes
    );
}

/// Unmaps the pages of the read-only segments (code, read-only data) of the executable and
/// its shared libraries from this process, so that they count in its RSS again only when something runs or reads them
/// again. Returns the bytes of the ranges released (0 where unsupported).
///
/// Why: the kernel maps file pages around each one touched (fault-around, and whole large
/// folios of the page cache), so the ~150 places in the code that start-up runs (flag
/// parsing, config decoding, validation, building clients) keep 9 MiB of a 14 MiB text
/// mapped for the life of the process. Those pages are clean copies of the file: dropping
/// them from our page tables loses nothing (the kernel may drop them itself under memory
/// pressure), they stay in the page cache, and what the daemon runs again comes back with a
/// minor fault. Only segments without write permission are touched: the relocated
/// (RELRO) and writable data are private copies and stay.
pub fn release_binary_pages() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        linux::release_readonly_segments()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::os::raw::{c_int, c_void};

    /// madvise(MADV_DONTNEED) on every whole page of the PT_LOAD segments without write
    /// permission of the executable and of the shared libraries loaded from files (libc,
    /// libm: not the vDSO, which the kernel provides).
    pub(super) fn release_readonly_segments() -> usize {
        // `usize::MAX` until the first object (the executable) has been seen.
        let mut released: usize = usize::MAX;
        // SAFETY: `dl_iterate_phdr` calls `visit` synchronously with valid `info` pointers
        // for each loaded object; `data` points at `released`, alive for the call.
        unsafe {
            libc::dl_iterate_phdr(Some(visit), (&mut released as *mut usize).cast::<c_void>());
        }
        if released == usize::MAX {
            0
        } else {
            released
        }
    }

    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: the loader passes a valid `dl_phdr_info` and its program headers.
        let info = unsafe { &*info };
        // SAFETY: `data` is the `&mut usize` passed by `release_readonly_segments`.
        let total = unsafe { &mut *data.cast::<usize>() };
        // The executable comes first, with an empty name; libraries have their path.
        let from_file = if *total == usize::MAX {
            *total = 0;
            true
        } else {
            // SAFETY: `dlpi_name` is null or a NUL-terminated string owned by the loader.
            !info.dlpi_name.is_null() && unsafe { *info.dlpi_name } == b'/' as std::os::raw::c_char
        };
        let page = page_size();
        let mut released = 0;
        if from_file && !info.dlpi_phdr.is_null() {
            // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
            let headers =
                unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
            for h in headers {
                if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
                    continue;
                }
                let start = (info.dlpi_addr as usize).wrapping_add(h.p_vaddr as usize);
                let end = start.wrapping_add(h.p_memsz as usize);
                // Whole pages inside the segment only: a page shared with a writable
                // neighbour is left alone.
                let first = start.div_ceil(page) * page;
                let last = end / page * page;
                if last <= first {
                    continue;
                }
                // SAFETY: the range lies inside a read-only, file-backed mapping of the
                // object (a segment without write permission) that nothing writes: after MADV_DONTNEED its pages read back
                // from the file on the next access, unchanged.
                let rc = unsafe {
                    libc::madvise(first as *mut c_void, last - first, libc::MADV_DONTNEED)
                };
                if rc == 0 {
                    released += last - first;
                }
            }
        }
        *total += released;
        0
    }

    fn page_size() -> usize {
        // SAFETY: sysconf takes no pointers.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
    }
}
