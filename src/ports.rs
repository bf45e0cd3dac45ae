//! Cross-process port reservation.
//!
//! Each reserved port holds two lock files (the port and its cluster bus port,
//! +10000) under one machine-wide directory, locked with `flock` for as long
//! as the reservation lives. The kernel drops the locks when the process dies,
//! so a crashed test run never leaks a port. Ports are handed out only below
//! the kernel's ephemeral range, so an outgoing connection can never have
//! taken a server's port or bus port.

use std::fs::{self, File, OpenOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};

/// The address every server binds and every client connects to.
pub const HOST: &str = "127.0.0.1";
/// The cluster bus listens at port + 10000.
pub const BUS_OFFSET: u16 = 10000;
/// The lowest port handed out (keeps clear of well-known services such as 6379).
const FIRST_PORT: u16 = 11000;

/// A port and its cluster bus port (+10000), reserved across processes until
/// dropped (in C: `vtf_port_free`). Another reservation, vtf server or
/// process that honours the lock files never gets them meanwhile.
#[derive(Debug)]
pub struct PortReservation {
    port: u16,
    _locks: [File; 2],
}

impl PortReservation {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bus_port(&self) -> u16 {
        self.port + BUS_OFFSET
    }
}

/// The directory of lock files: env `VTF_PORT_LOCK_DIR`, else `<tmp>/vtf-ports`.
/// Every process on the machine must use the same one.
pub fn lock_dir() -> PathBuf {
    crate::env::port_lock_dir().unwrap_or_else(|| std::env::temp_dir().join("vtf-ports"))
}

/// The range ports are chosen from: `[FIRST_PORT, ephemeral_low - 10000)`,
/// so both a port and its bus port stay below the ephemeral range.
pub fn port_range() -> Result<(u16, u16)> {
    let (low, _high) = ephemeral_range();
    let end = low.saturating_sub(BUS_OFFSET as u32);
    if end <= FIRST_PORT as u32 + 16 {
        return Err(Error::invalid(format!(
            "the kernel's ephemeral port range starts at {low} \
             (/proc/sys/net/ipv4/ip_local_port_range), which leaves no room for server \
             ports and their bus ports (+10000) below it; raise its lower bound"
        )));
    }
    Ok((FIRST_PORT, end as u16))
}

fn ephemeral_range() -> (u32, u32) {
    static RANGE: OnceLock<(u32, u32)> = OnceLock::new();
    *RANGE.get_or_init(|| {
        fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| {
                let mut it = text.split_whitespace().map(|n| n.parse::<u32>().ok());
                Some((it.next()??, it.next()??))
            })
            .unwrap_or((32768, 60999))
    })
}

/// Reserves a free port whose bus port is free too.
pub fn reserve() -> Result<PortReservation> {
    let (first, end) = port_range()?;
    let dir = lock_dir();
    create_lock_dir(&dir)?;
    let span = (end - first) as u32;
    // Processes start at different offsets and walk on from where this one
    // left off, so concurrent processes rarely contend for the same file.
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    let cursor = CURSOR.get_or_init(|| AtomicU32::new(seed() % span));
    for _ in 0..span {
        let port = first + (cursor.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if let Some(reservation) = try_reserve(&dir, port)? {
            return Ok(reservation);
        }
    }
    Err(Error::new(
        ErrorKind::Spawn,
        format!(
            "no free port in {first}..{end} (with bus port +{BUS_OFFSET}); lock files in {}",
            dir.display()
        ),
    ))
}

/// Reserves exactly `port`, if it and its bus port are free.
pub fn try_reserve_port(port: u16) -> Result<Option<PortReservation>> {
    let dir = lock_dir();
    create_lock_dir(&dir)?;
    try_reserve(&dir, port)
}

fn try_reserve(dir: &std::path::Path, port: u16) -> Result<Option<PortReservation>> {
    let Some(bus) = port.checked_add(BUS_OFFSET) else {
        return Ok(None);
    };
    let Some(first) = lock(dir, port)? else {
        return Ok(None);
    };
    let Some(second) = lock(dir, bus)? else {
        return Ok(None);
    };
    // Another program (not using these locks) may be listening already.
    if !bindable(port) || !bindable(bus) {
        return Ok(None);
    }
    Ok(Some(PortReservation {
        port,
        _locks: [first, second],
    }))
}

fn lock(dir: &std::path::Path, port: u16) -> Result<Option<File>> {
    let path = dir.join(format!("{port}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening port lock file {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(
            format!("locking port lock file {}", path.display()),
            e,
        )),
    }
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn create_lock_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating port lock dir {}", dir.display()), e))?;
    // Shared by every user's test runs on the machine, like /tmp itself.
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o1777));
    Ok(())
}

fn seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::process::id().wrapping_mul(2_654_435_761) ^ nanos
}
