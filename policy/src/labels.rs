//! The label keys the project puts on what it creates in the engine, defined once for every crate
//! (the sandbox, the grader, the lab tools that create containers).

/// Every object the project creates in the engine carries this label (`cargo xtask clean` removes by it).
pub const MANAGED: &str = "org.containerlabs.managed";
/// The run an object belongs to: the reaper removes a run by it.
pub const RUN: &str = "org.containerlabs.run";
/// The run's owner: a run whose owner is gone is reaped at the next start.
pub const OWNER: &str = "org.containerlabs.owner";
/// What a container of the grader's own is for (`toolbox`).
pub const ROLE: &str = "org.containerlabs.role";
/// The lab 2 pair a container or network belongs to (`web-db`'s project).
pub const PROJECT: &str = "org.containerlabs.project";
/// The hash of an image's inputs, so an unchanged image is reused.
pub const INPUT_HASH: &str = "org.containerlabs.input-hash";
