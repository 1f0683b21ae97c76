//! Plain data types shared by every command: the run report and its parts.
//!
//! Nothing in `model` performs I/O. The serde representation of these types *is* the
//! `cimon.run/v1` contract; `schemas/run-report.v1.json` is generated from them (see
//! [`crate::schema`]) and a test fails when the committed copy is stale.

mod check;
mod history;
pub mod json;
mod outcome;
mod run;
mod test_case;
mod verdict;

pub use check::{
    Annotation, AnnotationLevel, CheckReport, Comment, Conclusion, DEFAULT_CHECK_NAME,
};
pub use history::{
    PipelineState, RunPage, RunQuery, RunSummary, TestQuery, TestRunEntry, TestStats,
    DURATION_BUCKETS_SECONDS,
};
pub use outcome::{RunOutcome, TestOutcome};
pub use run::{
    Commit, DataSource, Provenance, ProviderKind, Reporter, RunReport, Step, REPORT_SCHEMA,
};
pub use test_case::{
    Attempt, Attempts, Details, Property, ReportFile, TestCase, TestId, TestResults, TestSummary,
};
pub use verdict::{
    Classification, Evidence, Excuse, ExcuseKind, Level, QuarantineNote, Scope, SourceLocation,
    Statistics, TestRef, TestVerdict, Verdict, VerdictKind, Violation, VERDICT_SCHEMA,
};
