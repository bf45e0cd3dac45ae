//! Moving slots with their keys between a running cluster's primaries, the
//! way Valkey's own tools move them: SETSLOT IMPORTING on the target,
//! MIGRATING on the source, GETKEYSINSLOT + MIGRATE ... KEYS in batches, then
//! SETSLOT NODE on the target, the source and every other primary. Clients
//! may keep writing meanwhile: the source answers -ASK for keys it no longer
//! has, and keys written before MIGRATING are picked up by the next
//! GETKEYSINSLOT. A move ends only once every node agrees on the new owner.

use std::collections::BTreeMap;
use std::time::Duration;

use super::converge::Expect;
use super::session::Session;
use super::{Cluster, SLOTS};
use crate::error::{Error, Result};

/// Keys per MIGRATE (valkey-cli moves 10; larger batches cost fewer round trips).
const MIGRATE_BATCH: usize = 100;
/// MIGRATE's own timeout for one batch (ms).
const MIGRATE_TIMEOUT_MS: u32 = 10_000;
/// Slots moved per pipelined step (a step's replies are read in one go).
const PIPELINE_SLOTS: usize = 1024;
/// How long a primary may wait for its replicas to acknowledge a SETSLOT.
const SETSLOT_REPLICA_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a SETSLOT answered NOREPLICAS is sent again.
const NOREPLICAS_RETRIES: usize = 3;

impl Cluster {
    /// Moves slots `first..=last` with their keys to shard `to_shard`'s
    /// primary (whichever of its nodes that is now), from whichever primaries
    /// own them; slots it already owns stay. Usable while clients write (they
    /// see -ASK and -MOVED, which cluster clients follow). Returns once every
    /// node sees the new owner and no migration is left open. A shard that
    /// loses its last slot stays a shard (an empty primary with its replicas)
    /// unless the config sets `cluster-allow-replica-migration` itself.
    pub fn move_slots(&self, first: u16, last: u16, to_shard: usize) -> Result<()> {
        if first > last || usize::from(last) >= SLOTS {
            return Err(Error::invalid(format!(
                "slot range {first}..={last} is not a range of slots 0..={}",
                SLOTS - 1
            )));
        }
        let slots: Vec<u16> = (first..=last).collect();
        self.move_slot_list(&slots, to_shard)
            .map_err(|e| e.context(format!("moving slots {first}-{last} to shard {to_shard}")))
    }

    /// Moves each of `slots` to shard `to_shard`'s current primary, then waits
    /// until every node agrees.
    pub(super) fn move_slot_list(&self, slots: &[u16], to_shard: usize) -> Result<()> {
        let members = self
            .shard_members(to_shard)
            .ok_or_else(|| self.bad_shard(to_shard))?
            .to_vec();
        let mut session = Session::open(self)?;
        let target = session.current_primary(to_shard, &members)?;
        let target_id = session.ids[&target].clone();
        let owners = session.slot_owners(target)?;
        // Which primary gives which slots, found before anything changes.
        let mut plan: BTreeMap<usize, Vec<u16>> = BTreeMap::new();
        for &slot in slots {
            let owner_id = owners.get(&slot).ok_or_else(|| {
                Error::invalid(format!(
                    "slot {slot} has no owner in node {target}'s view: nothing to move it from"
                ))
            })?;
            if owner_id == &target_id {
                continue;
            }
            let source = session.index_of(owner_id).ok_or_else(|| {
                Error::invalid(format!(
                    "slot {slot} is owned by node {owner_id}, which is not a running node of \
                     this cluster"
                ))
            })?;
            plan.entry(source).or_default().push(slot);
        }
        let user_set = self.nodes[target]
            .config()
            .get_arg("cluster-allow-replica-migration")
            .is_some();
        for (&source, moving) in &plan {
            let owned = owners
                .values()
                .filter(|o| **o == session.ids[&source])
                .count();
            if owned == moving.len() && !user_set {
                // Its last slots leave: keep its nodes a shard of their own.
                let shard = self.shard_of(source).unwrap_or(usize::MAX);
                for index in self.shard_members(shard).unwrap_or(&[]).to_vec() {
                    if session.ids.contains_key(&index) {
                        session.keep_shard_roles(index)?;
                    }
                }
            }
        }
        let primaries = session.primaries()?;
        let auth = migrate_auth(self.nodes[target].password());
        for (&source, moving) in &plan {
            for chunk in moving.chunks(PIPELINE_SLOTS) {
                session.move_slots(chunk, source, target, &primaries, &auth)?;
            }
        }
        drop(session);
        let expect = [Expect::Owns {
            index: target,
            id: target_id,
            slots: ranges(slots),
        }];
        self.wait_converged(self.settle_timeout, &expect)
            .map_err(|e| e.context("after moving the slots"))
    }
}

impl Session<'_> {
    /// Sends one command per slot of `slots` to node `index` in one
    /// pipeline; every reply must be a success.
    ///
    /// A primary whose replicas did not acknowledge a SETSLOT in time answers
    /// NOREPLICAS without applying it (its replicas may have): such commands
    /// are sent again, a few times, since each SETSLOT can be repeated.
    fn per_slot(&mut self, index: usize, slots: &[u16], args: &[&str]) -> Result<()> {
        let mut commands = self.setslot_commands(index, slots, args);
        for round in 0.. {
            let replies = self.parallel_pipeline(index, &commands)?;
            let mut again = Vec::new();
            for (command, reply) in commands.into_iter().zip(&replies) {
                match reply.error() {
                    None => {}
                    Some(e) if e.starts_with("NOREPLICAS") && round < NOREPLICAS_RETRIES => {
                        again.push(command)
                    }
                    Some(e) => return Err(self.refused(index, &command, e)),
                }
            }
            if again.is_empty() {
                break;
            }
            commands = again;
        }
        Ok(())
    }

    /// `CLUSTER SETSLOT <slot> args...` for each slot; on Valkey 8 or later
    /// with a TIMEOUT for the replicas' acknowledgement that suits a loaded
    /// machine (Valkey's default is 2 s).
    fn setslot_commands(&self, index: usize, slots: &[u16], args: &[&str]) -> Vec<Vec<String>> {
        let node = self.node(index);
        let engine = node.engine();
        let timeout = node
            .config()
            .scaled(SETSLOT_REPLICA_TIMEOUT)
            .as_millis()
            .to_string();
        let mut args = args.to_vec();
        if engine.is_valkey() && engine.at_least(8, 0) {
            args.extend(["TIMEOUT", timeout.as_str()]);
        }
        per_slot_commands(slots, &args)
    }

    /// Moves `slots` and their keys from `source` to `target` and tells every
    /// primary (target first, so a slot never lacks an owner). Each step is
    /// one pipeline over all the slots: a SETSLOT costs its node a nodes.conf
    /// fsync per event-loop pass, not per command.
    fn move_slots(
        &mut self,
        slots: &[u16],
        source: usize,
        target: usize,
        primaries: &[usize],
        auth: &[String],
    ) -> Result<()> {
        let (source_id, target_id) = (self.ids[&source].clone(), self.ids[&target].clone());
        self.per_slot(target, slots, &["IMPORTING", &source_id])?;
        self.per_slot(source, slots, &["MIGRATING", &target_id])?;
        self.migrate_keys(slots, source, target, auth)?;
        self.per_slot(target, slots, &["NODE", &target_id])?;
        let commands = self.setslot_commands(source, slots, &["NODE", &target_id]);
        let replies = self.parallel_pipeline(source, &commands)?;
        for ((&slot, command), reply) in slots.iter().zip(&commands).zip(&replies) {
            let Some(e) = reply.error() else { continue };
            // Valkey's own valkey-cli accepts these on the source: it may
            // have turned into a replica of the target meanwhile.
            let benign = ["Please use SETSLOT only with", "UNBLOCKED", "NOREPLICAS"];
            if benign.iter().any(|b| e.contains(b)) {
                continue;
            }
            if !e.contains("still hold keys") {
                return Err(self.refused(source, command, e));
            }
            // A key that arrived between counting and MIGRATING: move it too.
            self.migrate_keys(&[slot], source, target, auth)?;
            self.ok(source, command)?;
        }
        for &other in primaries.iter().filter(|&&p| p != source && p != target) {
            let open: Vec<u16> = slots
                .iter()
                .copied()
                .filter(|s| self.open.get(&other).is_some_and(|o| o.contains(s)))
                .collect();
            // A migration left open by hand on a third primary.
            self.per_slot(other, &open, &["STABLE"])?;
            self.per_slot(other, slots, &["NODE", &target_id])?;
        }
        Ok(())
    }

    /// Moves every key of `slots` from `source` to `target`: COUNTKEYSINSLOT
    /// for all of them in one pipeline, GETKEYSINSLOT for the ones with
    /// keys, then a MIGRATE ... KEYS per slot, each step one pipeline, until
    /// the counts are all 0. MIGRATING makes
    /// the source refuse new keys of these slots (-ASK), so this ends.
    fn migrate_keys(
        &mut self,
        slots: &[u16],
        source: usize,
        target: usize,
        auth: &[String],
    ) -> Result<()> {
        let host = self.node(target).host().to_string();
        let port = self.node(target).port().to_string();
        let timeout = MIGRATE_TIMEOUT_MS.to_string();
        let batch = MIGRATE_BATCH.to_string();
        let mut pending = slots.to_vec();
        loop {
            let counts = self.pipeline(
                source,
                &per_slot_commands_with(&pending, "COUNTKEYSINSLOT", &[]),
            )?;
            let mut with_keys = Vec::new();
            for (&slot, count) in pending.iter().zip(&counts) {
                match count.as_int() {
                    Some(0) => {}
                    Some(_) => with_keys.push(slot),
                    None => {
                        return Err(self.refused(
                            source,
                            &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
                            &format!("{count:?}"),
                        ))
                    }
                }
            }
            if with_keys.is_empty() {
                return Ok(());
            }
            let listed = self.pipeline(
                source,
                &per_slot_commands_with(&with_keys, "GETKEYSINSLOT", &[&batch]),
            )?;
            // One MIGRATE per slot (cluster mode refuses CROSSSLOT), all
            // in one pipeline.
            let mut migrates: Vec<Vec<Vec<u8>>> = Vec::new();
            for (&slot, reply) in with_keys.iter().zip(&listed) {
                if let Some(e) = reply.error() {
                    let command = ["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), &batch];
                    return Err(self.refused(source, &command, e));
                }
                let mut migrate: Vec<Vec<u8>> = ["MIGRATE", &host, &port, "", "0", &timeout]
                    .iter()
                    .map(|a| a.as_bytes().to_vec())
                    .collect();
                migrate.extend(auth.iter().map(|a| a.as_bytes().to_vec()));
                migrate.push(b"KEYS".to_vec());
                migrate.extend(
                    reply
                        .elements()
                        .iter()
                        .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec)),
                );
                migrates.push(migrate);
            }
            let replies = self.pipeline(source, &migrates)?;
            for (migrate, reply) in migrates.iter().zip(&replies) {
                if let Some(e) = reply.error() {
                    // Keys that expired meanwhile are not an error.
                    if !e.starts_with("NOKEY") {
                        return Err(self.refused(source, migrate, e));
                    }
                }
            }
            pending = with_keys;
        }
    }
}

/// `CLUSTER SETSLOT <slot> args...` for each slot.
fn per_slot_commands(slots: &[u16], args: &[&str]) -> Vec<Vec<String>> {
    per_slot_commands_with(slots, "SETSLOT", args)
}

/// `CLUSTER <subcommand> <slot> args...` for each slot.
fn per_slot_commands_with(slots: &[u16], subcommand: &str, args: &[&str]) -> Vec<Vec<String>> {
    slots
        .iter()
        .map(|slot| {
            ["CLUSTER", subcommand, &slot.to_string()]
                .into_iter()
                .chain(args.iter().copied())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// MIGRATE's AUTH arguments: the target requires the nodes' credential.
fn migrate_auth(password: Option<&str>) -> Vec<String> {
    match password {
        Some(password) => vec!["AUTH".into(), password.into()],
        None => Vec::new(),
    }
}

/// Sorted slots as inclusive ranges.
fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for slot in sorted {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == slot => *last = slot,
            _ => out.push((slot, slot)),
        }
    }
    out
}

/// "0-99,200" for messages.
pub(super) fn describe_slots(slots: &[u16]) -> String {
    ranges(slots)
        .iter()
        .map(|&(f, l)| {
            if f == l {
                f.to_string()
            } else {
                format!("{f}-{l}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_group_into_ranges() {
        assert_eq!(ranges(&[5, 1, 2, 3, 9, 10]), [(1, 3), (5, 5), (9, 10)]);
        assert_eq!(describe_slots(&[0, 1, 2, 7]), "0-2,7");
        assert!(ranges(&[]).is_empty());
    }

    #[test]
    fn migrate_authenticates_when_the_nodes_require_a_password() {
        assert!(migrate_auth(None).is_empty());
        assert_eq!(migrate_auth(Some("s3cret")), ["AUTH", "s3cret"]);
    }
}
