//! The device a session belongs to, as the app describes it, and its fingerprint.

use serde::Deserialize;

use nexgate_platform::Problem;

/// Platforms an app may report.
pub const PLATFORMS: &[&str] = &["ios", "android", "web", "desktop", "other"];

/// `device` in a login request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// A stable id the app keeps for the installation (1 to 128 characters).
    pub id: String,
    /// A human name ("Amina's Pixel 8"), 1 to 100 characters.
    pub name: String,
    /// One of [`PLATFORMS`].
    pub platform: String,
    /// The app's version, up to 32 characters.
    pub app_version: String,
}

/// A checked device description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub platform: String,
    pub app_version: String,
}

impl Device {
    /// Checks each field; errors name `<prefix>.<field>`.
    pub fn parse(input: DeviceInput, prefix: &str) -> Result<Self, Problem> {
        let field = |f: &str| format!("{prefix}.{f}");
        let bounded = |f: &str, v: &str, min: usize, max: usize| {
            let n = v.trim().chars().count();
            if n < min || n > max || v.chars().any(char::is_control) {
                Err(Problem::invalid_field(
                    field(f),
                    format!("must be {min} to {max} printable characters"),
                ))
            } else {
                Ok(v.trim().to_string())
            }
        };
        let platform = input.platform.trim().to_ascii_lowercase();
        if !PLATFORMS.contains(&platform.as_str()) {
            return Err(Problem::invalid_field(
                field("platform"),
                format!("must be one of {}", PLATFORMS.join(", ")),
            ));
        }
        Ok(Self {
            id: bounded("id", &input.id, 1, 128)?,
            name: bounded("name", &input.name, 1, 100)?,
            platform,
            app_version: bounded("app_version", &input.app_version, 0, 32)?,
        })
    }

    /// A stand-in when a flow has no device description (registration verified from a link).
    pub fn unnamed(id: &str) -> Self {
        Self {
            id: id.to_string(),
            name: "unnamed device".into(),
            platform: "other".into(),
            app_version: String::new(),
        }
    }

    /// SHA-256 of the stable attributes (installation id and platform): the name and app
    /// version change with renames and upgrades, so they are not part of it.
    pub fn fingerprint(&self) -> String {
        crate::secrets::sha256_hex(&format!("{}\u{1f}{}", self.platform, self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(platform: &str, name: &str) -> DeviceInput {
        DeviceInput {
            id: "install-1".into(),
            name: name.into(),
            platform: platform.into(),
            app_version: "1.2.3".into(),
        }
    }

    #[test]
    fn fingerprints_ignore_renames_and_upgrades() {
        let a = Device::parse(input("android", "Pixel"), "device").unwrap();
        let mut b = Device::parse(input("Android", "Amina's Pixel"), "device").unwrap();
        b.app_version = "2.0.0".into();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = Device::parse(input("ios", "Pixel"), "device").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn bad_fields_are_named() {
        let e = Device::parse(input("toaster", "Pixel"), "device").unwrap_err();
        assert_eq!(e.errors[0].field, "device.platform");
        let e = Device::parse(input("ios", ""), "device").unwrap_err();
        assert_eq!(e.errors[0].field, "device.name");
    }
}
