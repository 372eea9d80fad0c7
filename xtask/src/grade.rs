//! Grading, one submission or a class: `check` (one lab or step), `hand` (restarting what a
//! student runs, with their leave), `collect` (a class's repositories at a deadline), `batch`
//! (`grade`: a roster graded side by side, on the engines of `pool`), the `roster` and the
//! `gradebook`, the class's page and exports (`class`), and what graded what (`provenance`).

pub mod batch;
pub mod check;
pub mod class;
pub mod collect;
pub mod gradebook;
pub mod hand;
pub mod pool;
pub mod provenance;
pub mod roster;
