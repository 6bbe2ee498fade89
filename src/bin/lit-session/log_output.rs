//! `RUST_LOG=error|warn|info|debug|trace`: the library's log lines on stderr. Off by default;
//! nothing the library logs carries a secret (tested at `trace`).

use log::{Level, Log, Metadata, Record};

struct Stderr(Level);

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.0
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("lit-session: {} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger at the level `RUST_LOG` names; an unset or unknown value leaves
/// logging off.
pub fn init_from_env() {
    let Some(level) = std::env::var("RUST_LOG").ok().and_then(|v| v.trim().parse::<Level>().ok()) else { return };
    // Installed once for the life of the process, so leaking it is the `'static` it needs.
    if log::set_logger(Box::leak(Box::new(Stderr(level)))).is_ok() {
        log::set_max_level(level.to_level_filter());
    }
}
