//! The `geoip` stage's configuration: validation and JSON form.

use crate::model::reader::Fields;
use crate::model::{FieldPath, ValidationContext, ValidationErrors};
use serde_json::{json, Value};

/// Where the default chain's geoip stage reads the client address: the nginx parser's output.
pub const DEFAULT_GEOIP_FIELD: &str = "parsed.client_ip";

/// `geoip` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoipSpec {
    /// The field holding the IP address (default `parsed.client_ip`).
    pub field: FieldPath,
    /// Where the result goes (default `geo`).
    pub target: FieldPath,
}

impl GeoipSpec {
    /// Validates a `geoip` stage object.
    pub(crate) fn parse(
        f: &Fields<'_>,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(&["type", "field", "target"], &[], errs);
        if !ctx.geoip_available {
            errs.push(f.path("type"), "geoip.database is not configured");
        }
        let field = f
            .field_path("field", errs)
            .unwrap_or_else(|| FieldPath::known(DEFAULT_GEOIP_FIELD));
        let target = f
            .field_path("target", errs)
            .unwrap_or_else(|| FieldPath::known("geo"));
        Some(GeoipSpec { field, target })
    }

    /// The canonical REST form.
    pub(crate) fn to_json(&self) -> Value {
        json!({"type": crate::failure::FailedAt::Geoip.as_str(), "field": self.field.as_str(), "target": self.target.as_str()})
    }
}

#[cfg(feature = "openapi")]
impl GeoipSpec {
    /// The schema of a `geoip` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::stages::schema::{optional, path, stage};
        stage(
            crate::failure::FailedAt::Geoip,
            "looks `field` up in the GeoIP database into `target`; needs geoip.database",
            json!({"field": optional(path()), "target": optional(path())}),
            &[],
        )
    }
}
