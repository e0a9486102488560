//! The agent embedded in the server: workers that take incidents off the durable queue,
//! classify them, read their cluster, diagnose them and store the analysis — each step
//! on the incident's timeline as it happens, streamed live. Any number of instances
//! share the queue; each incident is analysed once.
//!
//! `jobs` is the queue (run by the job runner), `pipeline` makes one analysis
//! (`classify`, `context`, `rules`, `logs`), `prompt` asks an LLM after it (`llm`,
//! `team_llm`), and `analyses` is what people read and do with the result.
//! The imports below are what the parts share.

mod analyses;
pub mod classify;
pub mod context;
#[cfg(test)]
mod corpus;
pub mod jobs;
pub mod llm;
pub mod logs;
mod pipeline;
mod prompt;
pub mod rules;
pub mod team_llm;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::analysis::{
    AgentProgress, AnalysisView, Confidence, DiagnosisAccuracy, Family, Feedback, WrongDiagnosis,
};
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::config::Provider;
use crate::server::jobs::Held;
use crate::server::state::AppState;
use classify::{Classification, IncidentFacts};
use jobs::Job;
use rules::Diagnosis;

pub use analyses::{accuracy, give_feedback, progress, retry};
pub use jobs::Analyses;
use pipeline::*;
use prompt::*;

/// The name the agent writes under on timelines.
pub const ACTOR: &str = crate::domain::incident::AGENT_NAME;
