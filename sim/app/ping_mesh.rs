//! A ping mesh: one pinger per source netns that sends one iputils-layout echo request to each
//! destination of a rotation and records, per destination, the reply's TTL or the ICMP error.
//! It is what a thousand `ping -c 1` runs would send, without a thousand apps' output lines:
//! the whole-cluster reachability run of the scale benchmark.

use crate::dev::NsId;
use crate::stack::icmp::PingInput;
use crate::time::{Duration, Instant};
use crate::world::{Event, World};
use std::net::Ipv4Addr;

/// A request's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshResult {
    /// Not sent yet, or nothing came back.
    Pending,
    Reply {
        ttl: u8,
    },
    /// An ICMP error about the request (type, code).
    Error {
        icmp_type: u8,
        code: u8,
    },
    /// `sendto` failed (no route).
    SendError,
}

/// What a pinger is asked to do: request `q` goes to `dsts[q]` at `start + q * interval`.
#[derive(Clone, Debug)]
pub struct PingMeshSpec {
    pub ns: NsId,
    pub id: u16,
    pub dsts: Vec<Ipv4Addr>,
    pub start: Instant,
    pub interval: Duration,
    pub size: usize,
}

#[derive(Clone, Debug)]
pub struct PingMesh {
    pub spec: PingMeshSpec,
    pub sent: usize,
    /// Per destination (index = icmp_seq - 1).
    pub results: Vec<MeshResult>,
}

impl World {
    /// Starts a pinger; echo replies and errors with its id in its netns come to it.
    pub fn add_ping_mesh(&mut self, spec: PingMeshSpec) -> usize {
        let app = self.ping_meshes.len();
        let (ns, id, start, n) = (spec.ns, spec.id, spec.start, spec.dsts.len());
        self.ns[ns].ping_ids.insert(id, app);
        self.ping_meshes.push(PingMesh {
            spec,
            sent: 0,
            results: vec![MeshResult::Pending; n],
        });
        if n > 0 {
            self.engine.add_lane(self.ping_meshes[app].spec.interval);
            self.engine.schedule_at(start, Event::PingMeshSend { app });
        }
        app
    }

    /// Sends the next request and schedules the one after.
    pub fn ping_mesh_send(&mut self, app: usize) {
        let m = &mut self.ping_meshes[app];
        let q = m.sent;
        let Some(&dst) = m.spec.dsts.get(q) else {
            return;
        };
        m.sent += 1;
        if m.sent < m.spec.dsts.len() {
            let interval = m.spec.interval;
            self.engine
                .schedule_in(interval, Event::PingMeshSend { app });
        }
        let m = &self.ping_meshes[app];
        let (ns, id, size) = (m.spec.ns, m.spec.id, m.spec.size);
        // No flow tag: tags name `World::pings`, which expectations look drops up by.
        if self
            .send_echo_request(ns, dst, id, (q + 1) as u16, size, None)
            .is_err()
        {
            self.ping_meshes[app].results[q] = MeshResult::SendError;
        }
    }

    /// An echo reply or error for pinger `app`.
    pub(crate) fn ping_mesh_input(&mut self, app: usize, input: PingInput) {
        let m = &mut self.ping_meshes[app];
        let seq = match input {
            PingInput::Reply { seq, .. } | PingInput::Error { seq, .. } => seq,
        };
        let Some(i) = usize::from(seq).checked_sub(1).filter(|&i| i < m.sent) else {
            return;
        };
        match input {
            // A reply from the address pinged (ping ignores others for its statistics).
            PingInput::Reply { from, ttl, .. } if from == m.spec.dsts[i] => {
                m.results[i] = MeshResult::Reply { ttl };
            }
            PingInput::Reply { .. } => {}
            PingInput::Error {
                icmp_type, code, ..
            } => {
                if m.results[i] == MeshResult::Pending {
                    m.results[i] = MeshResult::Error { icmp_type, code };
                }
            }
        }
    }
}
