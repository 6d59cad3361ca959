//! sge-milter: a streaming milter that makes a Postfix or Sendmail gateway enforce
//! New Zealand's Secure Government Email (SGE) framework.
//!
//! The same [`pipeline::Engine`] is driven by the milter callbacks (`milter`) and by the
//! offline `scan` command, so a live message and an offline scan can never disagree.

pub mod auth;
pub mod config;
pub mod dmarc_reports;
pub mod domain;
pub mod envelope;
pub mod extract;
#[doc(hidden)]
pub mod fault;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod milter;
pub mod offline;
pub mod pipeline;
pub mod policy;
pub mod posture;
pub mod report;
pub mod scan;
pub mod spf_eval;
pub mod tls_policy;
