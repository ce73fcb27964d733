//! The tcp prober (being written): until it lands, `probe::is_supported` reports it as
//! unsupported and `/probe` answers 400 for tcp modules, so this function is not reached.

use super::module::TcpModule;
use super::ProbeCx;

pub async fn probe(_target: &str, _module: &TcpModule, cx: &mut ProbeCx) -> bool {
    cx.log.error("The tcp prober is not available in this build", &[]);
    false
}
