//! The agent embedded in the server: workers that take incidents off the durable queue,
//! classify them, read their cluster, diagnose them and store the analysis — each step
//! on the incident's timeline as it happens, streamed live. Any number of instances
//! share the queue; each incident is analysed once.
//!
//! `workers` runs the queue on this instance, `pipeline` makes one analysis (`classify`,
//! `context`, `rules`, `logs`), `prompt` asks an LLM after it (`llm`, `team_llm`), and
//! `analyses` is what people read and do with the result; `jobs` is the queue itself.
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
mod workers;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::analysis::{
    AgentProgress, AnalysisView, Confidence, DiagnosisAccuracy, Family, Feedback, WrongDiagnosis,
};
use crate::domain::live::{LiveEvent, LiveKind};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::config::{AgentSettings, Provider};
use crate::server::state::AppState;
use classify::{Classification, IncidentFacts};
use jobs::Job;
use rules::Diagnosis;

pub use analyses::{accuracy, give_feedback, progress, retry};
use pipeline::*;
use prompt::*;
pub use workers::Agent;

/// The name the agent writes under on timelines.
pub const ACTOR: &str = crate::domain::incident::AGENT_NAME;
