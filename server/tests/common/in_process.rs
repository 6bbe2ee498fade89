//! The service in the test's own process: the configuration [`super::write_config`] writes,
//! started with `run::launch` on a runtime of its own (no child process, no binary), for tests
//! of the API, the policy and bad input, where the process itself does not matter.

use std::path::Path;

use lit_session_server::config::{ConfigFile, Settings};
use lit_session_server::dev;
use lit_session_server::run::{self, Running};

/// A service serving on loopback ports the kernel picked, stopped (gracefully) when dropped.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the metrics listener.
    pub metrics: Option<String>,
    running: Option<Running>,
    runtime: tokio::runtime::Runtime,
}

impl InProcess {
    /// The service of [`super::configured`], in process.
    pub fn configured(dir: &Path, policy: &str, tokens: &[(&str, &str)], extra: &str) -> Self {
        let config = super::write_config(dir, policy, tokens, "", extra);
        Self::from_settings(ConfigFile::read(&config).and_then(|c| c.settings()).unwrap())
    }

    /// Dev mode (the settings `--dev` serves, its store in `dir`) in process, and the dev
    /// client's token.
    pub fn dev(dir: &Path) -> (Self, String) {
        let token = run::new_token().to_string();
        let loopback = "127.0.0.1:0".parse().unwrap();
        (Self::from_settings(dev::settings(loopback, Some(loopback), &token, dir).unwrap()), token)
    }

    /// The service of `settings`, in process.
    pub fn from_settings(settings: Settings) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let running = runtime.block_on(run::launch(settings, false)).unwrap();
        let base = format!("{}://{}", running.scheme, running.api);
        let metrics = running.metrics.map(|m| format!("http://{m}"));
        Self { base, metrics, running: Some(running), runtime }
    }

    /// Shuts down as on SIGTERM; whether every in-flight request finished and the listeners
    /// closed cleanly.
    pub fn stop(mut self) -> bool {
        let running = self.running.take().expect("running until stopped");
        self.runtime.block_on(running.shutdown()).is_ok()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = self.runtime.block_on(running.shutdown());
        }
    }
}
