//! Scenario expectations, checked against what the pings saw and where their packets died.

use super::Expect;
use crate::world::World;

/// One expectation's verdict.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    pub ok: bool,
    /// What was expected, in words.
    pub what: String,
    /// What happened instead, when it failed.
    pub detail: String,
}

/// Checks every expectation.
pub fn check(w: &World, expects: &[(usize, Option<Expect>)]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (app, exp) in expects {
        let Some(exp) = exp else {
            continue;
        };
        let p = &w.pings[*app];
        let from = &w.ns[p.spec.ns].name;
        let head = format!(
            "ping {} -> {} (start {} ms)",
            from,
            p.spec.dst,
            p.spec.start.as_ns() / 1_000_000
        );
        let sent = p.sent.len();
        let mut problems = Vec::new();
        let what = match exp {
            Expect::Reply { ttl } => {
                for (seq, _) in &p.sent {
                    match p.replies.iter().find(|r| r.seq == *seq) {
                        None => problems.push(format!(
                            "icmp_seq={seq}: no reply{}",
                            first_drop(w, *app, *seq)
                        )),
                        Some(r) if r.ttl != *ttl => {
                            problems.push(format!("icmp_seq={seq}: ttl={}", r.ttl))
                        }
                        Some(_) => {}
                    }
                }
                format!("{head}: {sent} replies with ttl={ttl}")
            }
            Expect::Drop { reason, at } => {
                for (seq, _) in &p.sent {
                    if p.replies.iter().any(|r| r.seq == *seq) {
                        problems.push(format!("icmp_seq={seq}: got a reply"));
                        continue;
                    }
                    let d = w.trace.drops.iter().find(|(_, tag)| {
                        tag.is_some_and(|t| t.app as usize == *app && t.seq == *seq)
                    });
                    match d {
                        Some((d, _))
                            if d.reason.kernel_name() == reason && d.place.to_string() == *at => {}
                        Some((d, _)) => problems.push(format!(
                            "icmp_seq={seq}: dropped at {} with {}",
                            d.place, d.reason
                        )),
                        None => problems.push(format!("icmp_seq={seq}: no drop recorded")),
                    }
                }
                format!("{head}: every request dropped at {at} with {reason}")
            }
            Expect::Error { from: efrom, text } => {
                for (seq, _) in &p.sent {
                    let want = format!("From {efrom} icmp_seq={seq} {text}");
                    if !p.lines.contains(&want) {
                        problems.push(format!("icmp_seq={seq}: no \"{want}\""));
                    }
                }
                format!("{head}: every request answered by \"From {efrom} ... {text}\"")
            }
        };
        if sent == 0 {
            problems.push(format!("nothing sent: {}", p.stderr.join("; ")));
        }
        out.push(Outcome {
            ok: problems.is_empty(),
            what,
            detail: problems.join("; "),
        });
    }
    out
}

fn first_drop(w: &World, app: usize, seq: u16) -> String {
    w.trace
        .drops
        .iter()
        .find(|(_, tag)| tag.is_some_and(|t| t.app as usize == app && t.seq == seq))
        .map(|(d, _)| format!(" (dropped at {} with {})", d.place, d.reason))
        .unwrap_or_default()
}

/// `NodesPing(expect_ttl: T)`: every ping of every mesh was answered with TTL `T`.
pub fn check_mesh(w: &World, ttl: u8) -> Outcome {
    use crate::app::ping_mesh::MeshResult;
    let total: usize = w.ping_meshes.iter().map(|m| m.results.len()).sum();
    let mut bad = Vec::new();
    let mut nbad = 0usize;
    for m in &w.ping_meshes {
        for (i, r) in m.results.iter().enumerate() {
            if *r == (MeshResult::Reply { ttl }) {
                continue;
            }
            nbad += 1;
            if bad.len() < 5 {
                bad.push(format!(
                    "{} -> {}: {r:?}",
                    w.ns[m.spec.ns].name, m.spec.dsts[i]
                ));
            }
        }
    }
    Outcome {
        ok: nbad == 0,
        what: format!("node-pair pings: all {total} answered with ttl={ttl}"),
        detail: format!("{nbad} not: {}", bad.join("; ")),
    }
}
