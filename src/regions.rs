//! SES regions and endpoint names: the one home of these facts.
//!
//! The lists are data from the SES Developer Guide's endpoint tables, not
//! code paths: when AWS opens a region, adding it here is the whole change.

/// Regions where SES has no SMTP endpoint, per the SES Developer Guide's
/// endpoint table. Kept as data: the sources disagree about eu-south-1.
pub const REGIONS_WITHOUT_SMTP: &[&str] = &[
    "af-south-1",
    "ap-southeast-3",
    "eu-south-1",
    "il-central-1",
    "me-south-1",
];

/// Regions SES is offered in, used to find which region an SMTP password was
/// derived for. A password derived for a region not listed here is still
/// reported as "for another region", without naming it.
pub const SES_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// `email-smtp.<region>.amazonaws.com`.
pub fn smtp_host_for(region: &str) -> String {
    format!("email-smtp.{region}.amazonaws.com")
}

/// The region of an SES SMTP host name (regional or FIPS), if it is one.
pub fn region_of_smtp_host(host: &str) -> Option<String> {
    let rest = host
        .strip_prefix("email-smtp.")
        .or_else(|| host.strip_prefix("email-smtp-fips."))?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    is_region_name(region).then(|| region.to_owned())
}

/// Whether `r` has the shape of an AWS region name (`eu-west-1`,
/// `us-gov-west-1`): lower-case words joined by `-`, ending in a number.
pub fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_host_names() {
        assert_eq!(
            region_of_smtp_host(&smtp_host_for("eu-west-1")).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_smtp_host("email-smtp-fips.us-east-1.amazonaws.com").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(region_of_smtp_host("smtp.example.com"), None);
        assert!(is_region_name("us-gov-west-1"));
        assert!(!is_region_name("EU-WEST-1"));
        assert!(!is_region_name("eu-west"));
    }
}
