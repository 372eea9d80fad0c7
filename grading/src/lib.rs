//! The Container Labs grading engine.
//!
//! A lab is data: the curriculum ([`curriculum`]) names labs and their steps, each step has a rubric
//! ([`rubric`]) whose checks are built from a small set of check kinds ([`check`]).
//! The [`runner`] evaluates a rubric against a running system - concurrently, with deadlines, honouring
//! prerequisites and never stopping at the first failure - and produces a [`report::Report`] that the
//! writers in [`report`] turn into a terminal report, our own JSON, JUnit XML or Gradescope's format.
//!
//! There are no lab-specific code paths here: adding a lab means adding data, or a new check kind.

pub mod check;
pub mod curriculum;
pub mod duration;
pub mod error;
pub mod picture;
pub mod report;
pub mod rubric;
pub mod runner;
pub mod topology;
pub mod vars;

pub use curriculum::{Curriculum, Lab, Step};
pub use error::LoadError;
pub use report::{CheckReport, NotRun, Provenance, Report, Status, StepReport};
pub use rubric::{Check, Rubric, Visibility};
pub use runner::{GradeConfig, ServiceControl, StartFailure};
pub use vars::Vars;
