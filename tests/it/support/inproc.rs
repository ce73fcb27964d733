//! An in-process daemon state for server tests: a `blackwatch.yml` with the given modules and,
//! optionally, a `--web.config.file` plus the files it names, all written into one directory.

use std::path::Path;
use std::sync::Arc;

use blackwatch::server::webconfig::Web;
use blackwatch::state::{Settings, Shared};

/// Writes `modules` as `dir/blackwatch.yml` and, with `web = Some((yaml, files))`, the files
/// and `dir/web.yml`; returns the loaded state and web config (panics on a bad file).
pub fn state_with_web(
    dir: &Path,
    modules: &str,
    web: Option<(&str, &[(&str, &str)])>,
) -> (Arc<Shared>, Option<Arc<Web>>) {
    crate::harness::install_crypto();
    let web = web.map(|(yaml, files)| {
        for (name, content) in files {
            std::fs::write(dir.join(name), content).expect("write file");
        }
        std::fs::write(dir.join("web.yml"), yaml).expect("write web.yml");
        match Web::load(&dir.join("web.yml")) {
            Ok(w) => Arc::new(w),
            Err(e) => panic!("web config does not load: {e}"),
        }
    });
    let config_path = dir.join("blackwatch.yml");
    std::fs::write(&config_path, modules).expect("write config");
    let cfg = blackwatch::config::load(&config_path).expect("config loads");
    let settings = Settings {
        config_file: Some(config_path),
        ..Settings::default()
    };
    (Shared::new(cfg, settings, 10), web)
}
