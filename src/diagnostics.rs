//! Waiting on conditions with a deadline, and a message when time runs out.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::process;

/// Polls `condition` until it returns true; on timeout the error names
/// `description` and how long was waited.
pub fn wait_until(
    description: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> Result<()> {
    let started = Instant::now();
    if process::poll_until(timeout, Duration::from_millis(20), &mut condition) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Timeout,
        format!(
            "timed out after {:.1} s waiting until {description}",
            started.elapsed().as_secs_f64()
        ),
    ))
}
