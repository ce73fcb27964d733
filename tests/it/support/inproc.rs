//! An in-process daemon for server tests: a `blackwatch.yml` with the given modules and,
//! optionally, a `--web.config.file` plus the files it names, all written into one directory.

use std::path::Path;
use std::sync::Arc;

use blackwatch::daemon::Daemon;
use blackwatch::server::webconfig::Web;
use blackwatch::state::Settings;

/// Writes `modules` as `dir/blackwatch.yml` and, with `web = Some((yaml, files))`, the files
/// and `dir/web.yml`; returns the built daemon (not serving yet) and the web config (panics
/// on a bad file).
pub fn state_with_web(
    dir: &Path,
    modules: &str,
    web: Option<(&str, &[(&str, &str)])>,
) -> (Daemon, Option<Arc<Web>>) {
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
        storage_path: dir.join("data"),
        history_limit: 10,
        ..Settings::default()
    };
    let token = tokio_util::sync::CancellationToken::new();
    let daemon = Daemon::build(cfg, settings, token).expect("daemon builds");
    (daemon, web)
}
