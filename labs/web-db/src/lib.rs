//! Lab 2 reference: the portfolio app (the seed course's Flask app with its timeline API, in Rust) on
//! MariaDB ([`app`]), and the tool that runs both as containers ([`stack`]).

pub mod app;
pub mod stack;
