//! What the course gives its people besides grading: the book built from the handouts, hints,
//! `watch` (the student's loop), `up`/`down` (a lab's services to explore), and the student
//! repository and autograder `export` writes.

pub mod book;
pub mod export;
pub mod hint;
pub mod updown;
pub mod watch;
