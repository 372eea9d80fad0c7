//! The running system as a report draws it: the containers a lab made, their tiers, networks,
//! volumes and published ports, and which of them are at fault. Plain data: the topology module
//! reads it from an engine, the HTML report draws it.

use std::collections::BTreeSet;

/// The running system, as the report draws it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// In drawing order: front door first, then apps, then what keeps data.
    pub containers: Vec<Container>,
}

/// Where a container stands on a request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Terminates the client's connection and forwards it (nginx, Caddy, Traefik, ...).
    FrontDoor,
    /// Answers the request (WordPress, Nextcloud, a board, a site server, ...).
    App,
    /// Keeps data for the apps (a database, a cache).
    Data,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The engine's id for it.
    pub id: String,
    pub name: String,
    pub image: String,
    /// Its role in the lab's words ("database", "cache", "nextcloud"), from the image's family.
    pub role: String,
    pub tier: Tier,
    /// `running`, `exited (1)`, `restarting`, `created`, ...
    pub state: String,
    /// `healthy`, `unhealthy` or `starting`: only when the image or the service has a healthcheck.
    pub health: Option<String>,
    pub networks: Vec<String>,
    /// `127.0.0.1:9443 -> 443/tcp`.
    pub published: Vec<Published>,
    pub mounts: Vec<Mount>,
    /// Why it is marked at fault (empty: it is not).
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub host_ip: String,
    pub host_port: String,
    /// `443/tcp`.
    pub container_port: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The volume's name (anonymous ones: their first 12 digits), or the host path.
    pub source: String,
    pub target: String,
}

impl Container {
    pub fn at_fault(&self) -> bool {
        !self.faults.is_empty()
    }
}

impl Topology {
    /// The named volumes, each once, in order of first use.
    pub fn volumes(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.containers
            .iter()
            .flat_map(|c| &c.mounts)
            .filter(|m| m.kind == "volume")
            .map(|m| m.source.as_str())
            .filter(|v| seen.insert(*v))
            .collect()
    }

    /// The request's path: (from, to) for each hop from a container to one of the next tier it
    /// shares a network with (a user-defined one, or a namespace) (the front door to the apps, an app to its data). Containers that
    /// share a network namespace (`--network container:`) reach each other on loopback: they
    /// count as sharing one.
    pub fn hops(&self) -> Vec<(usize, usize)> {
        let mut hops = Vec::new();
        for (i, from) in self.containers.iter().enumerate() {
            for (j, to) in self.containers.iter().enumerate() {
                let next = matches!(
                    (from.tier, to.tier),
                    (Tier::FrontDoor, Tier::App) | (Tier::App, Tier::Data) | (Tier::FrontDoor, Tier::Data)
                );
                if i == j || !next {
                    continue;
                }
                // A front door that reaches an app goes no further itself.
                if from.tier == Tier::FrontDoor
                    && to.tier == Tier::Data
                    && self.containers.iter().any(|c| c.tier == Tier::App)
                {
                    continue;
                }
                // Docker's default bridge joins unrelated containers, and gives no names to reach
                // each other by: it is no path.
                let path = |n: &&String| !matches!(n.as_str(), "bridge" | "host" | "none");
                if from.networks.iter().filter(path).any(|n| to.networks.contains(n)) {
                    hops.push((i, j));
                }
            }
        }
        hops
    }
}
