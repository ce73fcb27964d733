//! The dns prober (being written): until it lands, `probe::is_supported` reports it as
//! unsupported and `/probe` answers 400 for dns modules, so this function is not reached.

use super::module::DnsModule;
use super::ProbeCx;

pub async fn probe(_target: &str, _module: &DnsModule, cx: &mut ProbeCx) -> bool {
    cx.log.error("The dns prober is not available in this build", &[]);
    false
}
