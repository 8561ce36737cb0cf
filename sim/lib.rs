//! `sim`: a packet-level, discrete-event simulator of Linux container networking.
//!
//! A scenario (RON) builds a world of network namespaces, veth pairs, NICs on underlay segments
//! and tunl0 devices; the stack follows the Linux kernel's rules; every interface's traffic is
//! captured for pcap/pcapng, and every packet ends delivered or dropped with a kernel reason.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod bench;
pub mod check;
pub mod cow;
pub mod dev;
pub mod drop;
pub mod engine;
pub mod error;
pub mod explain;
pub mod iproute;
pub mod netns;
pub mod oracle;
pub mod packet;
#[cfg(feature = "plot")]
pub mod plot;
pub mod run;
pub mod scenario;
pub mod show;
pub mod stack;
pub mod time;
#[cfg(feature = "plot")]
pub mod topo;
pub mod trace;
pub mod wire;
pub mod world;
