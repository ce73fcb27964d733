//! Amazon SNS (work in progress).

use std::path::Path;
use std::sync::Arc;

use super::http_api::JsonClient;
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::SnsConfig;

pub struct Sns {
    #[allow(dead_code)]
    conf: SnsConfig,
    #[allow(dead_code)]
    templates: Arc<TemplateSet>,
    #[allow(dead_code)]
    http: JsonClient,
}

impl Sns {
    pub fn new(
        conf: SnsConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        Ok(Self {
            conf,
            templates,
            http,
        })
    }
}

impl Notifier for Sns {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn notify_batch<'a>(&'a self, _ctx: &'a NotifyContext, _alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(async { Err(NotifyError::new(false, FailReason::Other, "not yet")) })
    }
}
