//! The icmp prober (being written): until it lands, `probe::is_supported` reports it as
//! unsupported and `/probe` answers 400 for icmp modules, so this function is not reached.

use super::module::IcmpModule;
use super::ProbeCx;

pub async fn probe(_target: &str, _module: &IcmpModule, cx: &mut ProbeCx) -> bool {
    cx.log.error("The icmp prober is not available in this build", &[]);
    false
}
