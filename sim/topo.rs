//! A petgraph view of a built world: netns, their devices, the underlay segments, and the
//! links between them (veth pairs, NIC wires, bridge ports). Read-only: built from a World for
//! the topology picture, never fed back into the simulation.

use crate::dev::{DevId, DevKind, NsId};
use crate::world::World;
use petgraph::graph::{NodeIndex, UnGraph};
use std::collections::BTreeMap;

/// A vertex: a netns, a device, or an underlay segment (a learning switch).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TopoNode {
    Netns(NsId),
    Dev(DevId),
    Segment(usize),
}

/// An edge: what joins two vertices.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TopoEdge {
    /// A netns holds a device.
    Holds,
    /// The two ends of a veth pair.
    Veth,
    /// A NIC's wire to its segment.
    Wire,
    /// A bridge port to its bridge.
    Port,
}

/// The graph, with each netns's, device's and segment's vertex.
pub struct Topology {
    pub graph: UnGraph<TopoNode, TopoEdge>,
    pub netns: BTreeMap<NsId, NodeIndex>,
    pub devs: BTreeMap<DevId, NodeIndex>,
    pub segments: BTreeMap<usize, NodeIndex>,
}

impl Topology {
    /// The graph of `w` as it is now; loopback devices are left out (they join nothing).
    pub fn of(w: &World) -> Topology {
        let mut g = UnGraph::new_undirected();
        let (mut netns, mut devs, mut segments) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for (s, _) in w.segments.iter().enumerate() {
            segments.insert(s, g.add_node(TopoNode::Segment(s)));
        }
        for ns in 0..w.ns.len() {
            let n = g.add_node(TopoNode::Netns(ns));
            netns.insert(ns, n);
            for &d in &w.ns[ns].devs {
                if matches!(w.devs[d].kind, DevKind::Loopback) {
                    continue;
                }
                let v = g.add_node(TopoNode::Dev(d));
                devs.insert(d, v);
                g.add_edge(n, v, TopoEdge::Holds);
            }
        }
        for (&d, &v) in &devs {
            match w.devs[d].kind {
                // Each pair once: from its lower-numbered end.
                DevKind::Veth { peer } if d < peer => {
                    if let Some(&p) = devs.get(&peer) {
                        g.add_edge(v, p, TopoEdge::Veth);
                    }
                }
                DevKind::Nic { segment } => {
                    if let Some(&s) = segments.get(&segment) {
                        g.add_edge(v, s, TopoEdge::Wire);
                    }
                }
                _ => {}
            }
            if let Some(br) = w.devs[d].master.and_then(|b| devs.get(&b)) {
                g.add_edge(v, *br, TopoEdge::Port);
            }
        }
        Topology {
            graph: g,
            netns,
            devs,
            segments,
        }
    }

    /// The vertices joined to `v` by edges of kind `kind`.
    pub fn linked(&self, v: NodeIndex, kind: TopoEdge) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self
            .graph
            .edges(v)
            .filter(|e| *e.weight() == kind)
            .map(|e| {
                use petgraph::visit::EdgeRef;
                if e.source() == v {
                    e.target()
                } else {
                    e.source()
                }
            })
            .collect();
        out.sort();
        out
    }

    /// The device at the other end of `dev`'s veth pair, if it is one.
    pub fn veth_peer(&self, dev: DevId) -> Option<DevId> {
        let v = *self.devs.get(&dev)?;
        self.linked(v, TopoEdge::Veth)
            .into_iter()
            .find_map(|n| match self.graph[n] {
                TopoNode::Dev(d) => Some(d),
                _ => None,
            })
    }

    /// The segment a NIC is wired to.
    pub fn segment_of(&self, dev: DevId) -> Option<usize> {
        let v = *self.devs.get(&dev)?;
        self.linked(v, TopoEdge::Wire)
            .into_iter()
            .find_map(|n| match self.graph[n] {
                TopoNode::Segment(s) => Some(s),
                _ => None,
            })
    }
}
