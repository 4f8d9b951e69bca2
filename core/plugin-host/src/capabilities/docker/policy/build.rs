//! The check of an image build's query parameters.

use super::{Refusal, check_mode};

/// Checks the network mode of an image build (the `networkmode` query parameter): `host` and
/// `container:` modes are refused.
pub fn check_build(network_mode: Option<&str>) -> Result<(), Refusal> {
    check_mode("networkmode", network_mode)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::capabilities::docker::policy::fixtures::assert_refused;

    #[test]
    fn builds() {
        for mode in [
            None,
            Some(""),
            Some("default"),
            Some("none"),
            Some("bridge"),
        ] {
            check_build(mode).expect("allowed");
        }
        assert_refused(check_build(Some("host")), "networkmode");
        assert_refused(check_build(Some("container:3f2a")), "networkmode");
    }
}
