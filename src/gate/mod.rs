//! `cimon gate`'s judgement, pure and without I/O: the validated policy ([`policy`]), the
//! flakiness model ([`stats`]), the verdict ([`evaluate`]) and its renderings ([`render`]).
//! Reading the history and the reports, and the exit code, live in `commands::gate`.

pub mod evaluate;
pub mod inputs;
pub mod policy;
pub mod render;
pub mod stats;

pub use evaluate::{evaluate, CurrentRun, CurrentTest, Inputs, Window};
pub use policy::Policy;
pub use render::{check_report, render_markdown, render_text, Rendered};
