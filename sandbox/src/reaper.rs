//! The one reaper: removes everything carrying a label - containers (with their anonymous
//! volumes), then networks, then volumes, then images - one engine call at a time, each under a
//! deadline.
//!
//! One at a time on purpose: dockerd 20.10 before 20.10.27 (Debian bookworm ships 20.10.24) can
//! deadlock when endpoints leave one network concurrently (moby/moby#46661), and then removals
//! never return. A call that misses its deadline means the engine is stuck: the reaper stops
//! there with one error that says what to do, instead of waiting on every object.
//!
//! Every cleanup in the project goes through [`reap`]: a grading run (by its run label), `cargo
//! xtask clean` (by the project's label), `stack down --volumes` (by the Compose project's label),
//! runs whose grader died ([`reap_orphans`]) and the tests.

use crate::labels::{Owner, RunId, OWNER, RUN};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptions,
};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long one removal may take before the engine counts as stuck.
pub const CALL_DEADLINE: Duration = Duration::from_secs(60);

/// How long [`reap`] waits on objects another reaper (or a leaving container) holds.
const CONTENDED_FOR: Duration = Duration::from_secs(60);

/// What [`reap`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    pub images: usize,
}

impl Removed {
    pub fn total(&self) -> usize {
        self.containers + self.networks + self.volumes + self.images
    }

    fn add(&mut self, other: Removed) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
        self.images += other.images;
    }
}

/// Why a reap did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    #[error(
        "the Docker engine did not finish {what} within {} s: it is stuck (dockerd 20.10 before 20.10.27 can \
         deadlock removing containers, moby/moby#46661); restart dockerd, then run `cargo xtask clean`",
        CALL_DEADLINE.as_secs()
    )]
    Stuck { what: String },
    #[error("the Docker engine could not {what}: {source}")]
    Engine {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{left} still carry {label} after removing them: {names}")]
    Left { label: String, left: usize, names: String },
}

/// How one removal went.
enum Outcome {
    Removed,
    /// Gone already (404): another reaper, or the engine, was first.
    Gone,
    /// Not yet removable because of something in flight: another reaper is removing it (409
    /// "already in progress"), or a container of it is still leaving (a network with active
    /// endpoints, a volume in use). The engine's own error is kept for when it does not clear.
    Contended(bollard::errors::Error),
}

/// One engine call under [`CALL_DEADLINE`].
async fn call<T>(
    future: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    what: &str,
) -> Result<Outcome, ReapError> {
    use bollard::errors::Error::DockerResponseServerError;
    match tokio::time::timeout(CALL_DEADLINE, future).await {
        Err(_) => Err(ReapError::Stuck { what: what.to_string() }),
        Ok(Ok(_)) => Ok(Outcome::Removed),
        Ok(Err(DockerResponseServerError { status_code: 404, .. })) => Ok(Outcome::Gone),
        Ok(Err(source @ DockerResponseServerError { status_code: 403 | 409, .. })) => Ok(Outcome::Contended(source)),
        Ok(Err(source)) => Err(ReapError::Engine { what: what.to_string(), source }),
    }
}

/// A listing under the deadline too (a deadlocked dockerd may still answer pings, not lists).
async fn list<T>(
    future: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    what: &str,
) -> Result<T, ReapError> {
    match tokio::time::timeout(CALL_DEADLINE, future).await {
        Err(_) => Err(ReapError::Stuck { what: format!("listing {what}") }),
        Ok(Ok(found)) => Ok(found),
        Ok(Err(source)) => Err(ReapError::Engine { what: format!("list {what}"), source }),
    }
}

/// What carries one label, by kind: (id, name) pairs.
#[derive(Debug, Default)]
struct Labelled {
    containers: Vec<(String, String)>,
    networks: Vec<(String, String)>,
    volumes: Vec<String>,
    images: Vec<(String, String)>,
}

impl Labelled {
    /// Lists everything carrying `label` (images only with `images`).
    async fn list(docker: &Docker, label: &str, images: bool) -> Result<Labelled, ReapError> {
        let filters: HashMap<&str, Vec<&str>> = [("label", vec![label])].into_iter().collect();
        let mut found = Labelled::default();
        let containers = list(
            docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build())),
            "containers",
        )
        .await?;
        for container in containers {
            let Some(id) = container.id else { continue };
            let name = container.names.and_then(|n| n.into_iter().next()).unwrap_or_else(|| id.clone());
            found.containers.push((id, name.trim_start_matches('/').to_string()));
        }
        let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
        for network in list(docker.list_networks(Some(options)), "networks").await? {
            if let Some(id) = network.id {
                found.networks.push((id, network.name.unwrap_or_default()));
            }
        }
        let options = ListVolumesOptionsBuilder::default().filters(&filters).build();
        let volumes = list(docker.list_volumes(Some(options)), "volumes").await?;
        found.volumes = volumes.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect();
        if images {
            let options = ListImagesOptionsBuilder::default().filters(&filters).build();
            for image in list(docker.list_images(Some(options)), "images").await? {
                let name = image.repo_tags.first().cloned().unwrap_or_else(|| image.id.clone());
                found.images.push((image.id, name));
            }
        }
        Ok(found)
    }

    /// "kind name" for each, for messages.
    fn names(&self) -> Vec<String> {
        let named = |kind: &str, items: &[(String, String)]| -> Vec<String> {
            items.iter().map(|(_, name)| format!("{kind} {name}")).collect()
        };
        let mut all = named("container", &self.containers);
        all.extend(named("network", &self.networks));
        all.extend(self.volumes.iter().map(|v| format!("volume {v}")));
        all.extend(named("image", &self.images));
        all
    }
}

/// Removes every container, network and volume carrying `label` (`key` or `key=value`), and with
/// `images` every image too; nothing without it is touched. A container is force-removed with
/// its anonymous volumes. Then lists again: anything still there is an error.
///
/// Two reapers may meet on one run (a dead grader's sentinel and another grader's
/// [`reap_orphans`]): what the other one is removing is waited for, pass after pass, until
/// nothing carries the label; what stays contended for [`CONTENDED_FOR`] is the engine's error.
pub async fn reap(docker: &Docker, label: &str, images: bool) -> Result<Removed, ReapError> {
    let started = std::time::Instant::now();
    let mut removed = Removed::default();
    // A run's host rules (its build network's, see crate::egress) go by the same label.
    if label == crate::labels::MANAGED {
        crate::egress::remove_rules(None);
    } else if let Some(run) = label.strip_prefix(&format!("{RUN}=")).and_then(RunId::parse) {
        crate::egress::remove_rules(Some(&run));
    }
    loop {
        let found = Labelled::list(docker, label, images).await?;
        let mut contended = None;
        let mut remove = async |outcome: Result<Outcome, ReapError>, what: String, count: &mut usize| {
            match outcome? {
                Outcome::Removed => *count += 1,
                Outcome::Gone => {}
                Outcome::Contended(source) => contended = Some(ReapError::Engine { what, source }),
            }
            Ok::<(), ReapError>(())
        };
        for (id, name) in &found.containers {
            let what = format!("removing container {name}");
            let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            remove(call(docker.remove_container(id, Some(options)), &what).await, what, &mut removed.containers)
                .await?;
        }
        for (id, name) in &found.networks {
            let what = format!("removing network {name}");
            remove(call(docker.remove_network(id), &what).await, what, &mut removed.networks).await?;
        }
        for name in &found.volumes {
            let what = format!("removing volume {name}");
            let outcome = call(docker.remove_volume(name, None::<RemoveVolumeOptions>), &what).await;
            remove(outcome, what, &mut removed.volumes).await?;
        }
        for (id, name) in &found.images {
            let what = format!("removing image {name}");
            let options = RemoveImageOptionsBuilder::default().force(true).build();
            remove(call(docker.remove_image(id, Some(options), None), &what).await, what, &mut removed.images).await?;
        }
        let left = leftovers(docker, label, images).await?;
        if left.is_empty() {
            return Ok(removed);
        }
        match contended {
            Some(error) if started.elapsed() >= CONTENDED_FOR => return Err(error),
            Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            None => return Err(ReapError::Left { label: label.to_string(), left: left.len(), names: left.join(", ") }),
        }
    }
}

/// What still carries `label`, as "kind name".
pub async fn leftovers(docker: &Docker, label: &str, images: bool) -> Result<Vec<String>, ReapError> {
    Ok(Labelled::list(docker, label, images).await?.names())
}

/// Reaps every run whose owner is a process of this machine that is gone (a grader that was
/// killed, a test binary that ended mid-test); returns what was removed per run. Runs of other
/// machines and detached runs are left alone.
pub async fn reap_orphans(docker: &Docker) -> Result<Vec<(RunId, Removed)>, ReapError> {
    let mut owners: BTreeMap<RunId, Owner> = BTreeMap::new();
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![OWNER])].into_iter().collect();
    let mut note = |labels: Option<HashMap<String, String>>| {
        let labels = labels.unwrap_or_default();
        if let (Some(run), Some(owner)) =
            (labels.get(RUN).and_then(|r| RunId::parse(r)), labels.get(OWNER).and_then(|o| Owner::parse(o)))
        {
            owners.insert(run, owner);
        }
    };
    let containers = list(
        docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build())),
        "containers",
    )
    .await?;
    containers.into_iter().for_each(|c| note(c.labels));
    let networks =
        list(docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build())), "networks")
            .await?;
    networks.into_iter().for_each(|n| note(n.labels));
    let volumes =
        list(docker.list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build())), "volumes")
            .await?;
    volumes.volumes.unwrap_or_default().into_iter().for_each(|v| note(Some(v.labels)));
    let images =
        list(docker.list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build())), "images").await?;
    images.into_iter().for_each(|i| note(Some(i.labels)));
    let mut reaped = Vec::new();
    for (run, owner) in owners {
        if owner.alive() == Some(false) {
            let mut removed = Removed::default();
            removed.add(reap(docker, &run.selector(), true).await?);
            reaped.push((run, removed));
        }
    }
    // Host rules whose build network is gone (a grader killed between the two).
    for run in crate::egress::runs_with_rules() {
        let network = format!("clabs-run-{run}-build");
        let inspected =
            docker.inspect_network(&network, None::<bollard::query_parameters::InspectNetworkOptions>).await;
        if matches!(inspected, Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) {
            crate::egress::remove_rules(Some(&run));
        }
    }
    Ok(reaped)
}
