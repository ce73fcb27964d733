//! Files: atomic replacement (what every snapshot under `--storage.path` uses) and glob
//! expansion as Go's `filepath.Glob` (rule files, file_sd files, notification templates), and the
//! host name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over the target, fsync of the directory. The directory is created if missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// [`write_atomic`] with the content streamed by `write` through a buffer. On any error the
/// temporary file is removed and the target is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &f);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Best effort: not every platform can fsync a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `pattern` has any of `filepath.Match`'s meta characters.
pub fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The existing files a glob matches now, sorted; nothing for a pattern that matches nothing
/// or is malformed (Go's `filepath.Glob`, which reports only `ErrBadPattern`).
pub fn glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(p) = pattern.to_str() else {
        return Vec::new();
    };
    let Ok(paths) = ::glob::glob(p) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    files.sort();
    files
}

/// A path as given when it has no meta characters (so a missing file is reported by
/// whoever opens it), else what [`glob`] matches.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    if !pattern.to_str().is_some_and(has_meta) {
        return vec![pattern.to_path_buf()];
    }
    glob(pattern)
}

/// The machine's host name (`/proc/sys/kernel/hostname`, else `/etc/hostname`), or `None`.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        let failed = write_atomic_with(&p, |_| Err(std::io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn globs_match_like_filepath_glob() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.yml", "a.yml", "c.json", ".d.yml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names(expand(&dir.path().join("*.yml"))),
            [".d.yml", "a.yml", "b.yml"]
        );
        assert_eq!(
            names(expand(&dir.path().join("[ab].yml"))),
            ["a.yml", "b.yml"]
        );
        assert_eq!(names(expand(&dir.path().join("?.json"))), ["c.json"]);
        let missing = dir.path().join("missing.yml");
        assert_eq!(expand(&missing), vec![missing.clone()]);
        assert!(glob(&missing).is_empty());
        assert!(expand(&dir.path().join("nodir/*.yml")).is_empty());
    }
}
