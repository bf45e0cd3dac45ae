//! Diagnostics: what a server's output says when something fails (log
//! tails, its own crash reports, sanitizer and valgrind reports), and waits
//! that say what they waited for when time runs out.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::process::{self, ProcessState};

/// Lines of the server's log shown in error messages.
pub const LOG_TAIL_LINES: usize = 30;
/// Lines of the log searched for a crash report when a connection breaks.
const CRASH_SEARCH_LINES: usize = 400;
/// Lines of a crash report quoted in an error.
const CRASH_REPORT_LINES: usize = 60;
/// How much of the end of a log file is read for a tail.
const TAIL_WINDOW: u64 = 256 * 1024;

/// How a line of a server's output is recognised as part of a report.
/// `dying`: the server writes it as it dies (its own crash report), so a
/// client whose connection broke waits for the exit instead of calling the
/// server alive. Sanitizer and valgrind reports need not end the process.
const REPORT_MARKERS: [(&str, bool); 10] = [
    ("crashed by signal", true),
    ("BUG REPORT START", true),
    ("ASSERTION FAILED", true),
    ("Guru Meditation", true),
    ("ERROR: AddressSanitizer", false),
    ("ERROR: LeakSanitizer", false),
    ("runtime error:", false),
    ("WARNING: ThreadSanitizer", false),
    ("SUMMARY: AddressSanitizer", false),
    ("SUMMARY: UndefinedBehaviorSanitizer", false),
];

/// Whether `line` belongs to a crash, sanitizer or valgrind report (for
/// `check_clean`).
pub fn is_report_line(line: &str) -> bool {
    if REPORT_MARKERS.iter().any(|(m, _)| line.contains(m)) {
        return true;
    }
    // valgrind: "==123== ERROR SUMMARY: 2 errors from 2 contexts" with a non-zero count,
    // and definite leaks.
    if let Some(rest) = line.split("ERROR SUMMARY: ").nth(1) {
        return !rest.starts_with("0 ");
    }
    line.contains("definitely lost:") && !line.contains("definitely lost: 0 bytes")
}

/// The report lines in a server's output.
pub fn report_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| is_report_line(l)).collect()
}

fn is_crash_line(line: &str) -> bool {
    REPORT_MARKERS
        .iter()
        .any(|(m, dying)| *dying && line.contains(m))
}

/// Whether the current run's log holds the server's own crash report.
pub(crate) fn crash_in_log(state: &ProcessState) -> bool {
    run_log_tail(state, CRASH_SEARCH_LINES)
        .lines()
        .any(is_crash_line)
}

/// The crash report from the current run's log (from its first line on),
/// else the log's tail.
pub(crate) fn crash_report(state: &ProcessState) -> String {
    let tail = run_log_tail(state, CRASH_SEARCH_LINES);
    let lines: Vec<&str> = tail.lines().collect();
    match lines.iter().position(|l| is_crash_line(l)) {
        Some(i) => {
            let report: Vec<&str> = lines[i..]
                .iter()
                .take(CRASH_REPORT_LINES)
                .copied()
                .collect();
            format!(
                "crash report from its log {}:\n{}",
                state.log_path().display(),
                report.join("\n")
            )
        }
        None => log_excerpt(state),
    }
}

/// The last `lines` lines of a log file (reads at most its last 256 KiB).
pub fn log_tail(path: &Path, lines: usize) -> Result<String> {
    log_tail_from(path, 0, lines)
}

/// Like [`log_tail`], ignoring the bytes before offset `from`.
pub fn log_tail_from(path: &Path, from: u64, lines: usize) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_WINDOW).max(from.min(len));
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    Ok(last_lines(&String::from_utf8_lossy(&bytes), lines))
}

/// The last `lines` lines of `text`.
pub fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last `lines` lines the current (or last) process of a server wrote.
pub(crate) fn run_log_tail(state: &ProcessState, lines: usize) -> String {
    log_tail_from(state.log_path(), state.log_start(), lines)
        .unwrap_or_else(|e| format!("(log unreadable: {e})"))
}

/// "last lines of its log <path>:\n..." for error messages, from the current run.
pub(crate) fn log_excerpt(state: &ProcessState) -> String {
    format_log_excerpt(state.log_path(), &run_log_tail(state, LOG_TAIL_LINES))
}

pub(crate) fn format_log_excerpt(path: &Path, tail: &str) -> String {
    if tail.trim().is_empty() {
        format!("its log {} is empty", path.display())
    } else {
        format!("last lines of its log {}:\n{tail}", path.display())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_cover_crashes_sanitizers_and_valgrind() {
        let log = "\
1:M 01 Jan 2026 Ready to accept connections tcp
=== VALKEY BUG REPORT START: Cut & paste starting from here ===
1:M crashed by signal: 11
==7==ERROR: AddressSanitizer: heap-use-after-free
x.c:3:5: runtime error: signed integer overflow
==9== ERROR SUMMARY: 0 errors from 0 contexts
==9== ERROR SUMMARY: 2 errors from 2 contexts
==9==    definitely lost: 0 bytes in 0 blocks
==9==    definitely lost: 16 bytes in 1 blocks";
        assert_eq!(
            report_lines(log),
            [
                "=== VALKEY BUG REPORT START: Cut & paste starting from here ===",
                "1:M crashed by signal: 11",
                "==7==ERROR: AddressSanitizer: heap-use-after-free",
                "x.c:3:5: runtime error: signed integer overflow",
                "==9== ERROR SUMMARY: 2 errors from 2 contexts",
                "==9==    definitely lost: 16 bytes in 1 blocks",
            ]
        );
        // Only the server's own report means it is dying.
        assert!(is_crash_line("=== REDIS BUG REPORT START: Cut & paste"));
        assert!(is_crash_line("=== ASSERTION FAILED ==="));
        assert!(!is_crash_line(
            "x.c:3:5: runtime error: signed integer overflow"
        ));
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }
}
