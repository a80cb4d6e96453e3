//! Tracing set-up: JSON lines by default, pretty output in develop mode.

use crate::config::LogSettings;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global tracing subscriber.
///
/// The filter comes from `RUST_LOG` when set, else from `log.logLevel`. Output goes to stderr as
/// one JSON object per line, or as pretty text when `log.developMode` is set. Calling it twice is
/// harmless: the second call leaves the first subscriber in place.
pub fn init(settings: &LogSettings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directive| EnvFilter::try_new(directive).ok())
        .or_else(|| EnvFilter::try_new(&settings.log_level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed (tests), which is fine.
    let _ = if settings.develop_mode {
        builder.pretty().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    };
}
