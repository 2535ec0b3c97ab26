//! Mobile-money numbers: E.164 parsing, the network a number belongs to (from its prefix), and
//! the providers that serve each network. The provider fixes the currency.

use nexgate_platform::Problem;

pub use crate::providers::Provider;

/// A mobile network we know the prefixes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    SafaricomKe,
    AirtelKe,
    TelkomKe,
    VodacomTz,
    AirtelTz,
    TigoTz,
    HalotelTz,
    ZantelTz,
    TtclTz,
}

impl Network {
    pub const ALL: [Network; 9] = [
        Network::SafaricomKe,
        Network::AirtelKe,
        Network::TelkomKe,
        Network::VodacomTz,
        Network::AirtelTz,
        Network::TigoTz,
        Network::HalotelTz,
        Network::ZantelTz,
        Network::TtclTz,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::SafaricomKe => "safaricom_ke",
            Network::AirtelKe => "airtel_ke",
            Network::TelkomKe => "telkom_ke",
            Network::VodacomTz => "vodacom_tz",
            Network::AirtelTz => "airtel_tz",
            Network::TigoTz => "tigo_tz",
            Network::HalotelTz => "halotel_tz",
            Network::ZantelTz => "zantel_tz",
            Network::TtclTz => "ttcl_tz",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == name)
    }

    fn country_code(self) -> &'static str {
        match self {
            Network::SafaricomKe | Network::AirtelKe | Network::TelkomKe => "254",
            _ => "255",
        }
    }

    /// The providers that collect from and pay out to this network, preferred first.
    pub fn providers(self) -> &'static [Provider] {
        match self {
            Network::SafaricomKe => &[Provider::Daraja],
            Network::VodacomTz | Network::ZantelTz => &[Provider::Selcom],
            Network::AirtelTz | Network::TigoTz | Network::HalotelTz => {
                &[Provider::Selcom, Provider::Tembo]
            }
            Network::AirtelKe | Network::TelkomKe | Network::TtclTz => &[],
        }
    }

    /// Tembo Plus's collection channel for this network.
    pub fn tembo_channel(self, direction: &str) -> Option<String> {
        let operator = match self {
            Network::AirtelTz => "AIRTEL",
            Network::TigoTz => "TIGO",
            Network::HalotelTz => "HALOTEL",
            _ => return None,
        };
        Some(format!("TZ-{operator}-{direction}"))
    }
}

/// Normalises a number to E.164 digits without the plus: `+255 712 345 678`, `255712345678`.
/// Local forms (`0712...`) are refused: the country must be explicit.
pub fn normalise(input: &str) -> Result<String, Problem> {
    let trimmed = input.trim();
    let digits: String = trimmed
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
        || !(8..=15).contains(&digits.len())
    {
        return Err(Problem::invalid_field(
            "phone",
            "must be an international number in E.164 form, for example +255712345678",
        ));
    }
    Ok(digits)
}

/// The network of an E.164 number (digits), from its national prefix.
pub fn detect_network(msisdn: &str) -> Option<Network> {
    let (cc, national) = if let Some(n) = msisdn.strip_prefix("254") {
        ("254", n)
    } else if let Some(n) = msisdn.strip_prefix("255") {
        ("255", n)
    } else {
        return None;
    };
    if national.len() != 9 {
        return None;
    }
    let p2: u32 = national[..2].parse().ok()?;
    let p3: u32 = national[..3].parse().ok()?;
    match cc {
        // Communications Authority of Kenya numbering plan allocations.
        "254" => match p3 {
            700..=729 | 740..=746 | 748 | 757..=759 | 768..=769 | 790..=799 | 110..=115 => {
                Some(Network::SafaricomKe)
            }
            730..=739 | 750..=756 | 762 | 780..=789 | 100..=102 => Some(Network::AirtelKe),
            770..=779 => Some(Network::TelkomKe),
            _ => None,
        },
        // TCRA allocations.
        _ => match p2 {
            74..=76 => Some(Network::VodacomTz),
            68 | 69 | 78 => Some(Network::AirtelTz),
            65 | 67 | 71 => Some(Network::TigoTz),
            61 | 62 => Some(Network::HalotelTz),
            77 => Some(Network::ZantelTz),
            73 => Some(Network::TtclTz),
            _ => None,
        },
    }
}

/// A number ready to be a payment method: its network (detected, or the override when it is a
/// network of the number's country) and the provider that will serve it.
pub fn resolve(
    msisdn: &str,
    network_override: Option<&str>,
    provider_choice: Option<&str>,
) -> Result<(Network, Provider), Problem> {
    let network = match network_override {
        Some(name) => {
            let n = Network::parse(name).ok_or_else(|| {
                Problem::invalid_field("network", format!("`{name}` is not a known network"))
            })?;
            if !msisdn.starts_with(n.country_code()) {
                return Err(Problem::invalid_field(
                    "network",
                    format!("`{name}` is not a network of this number's country"),
                ));
            }
            n
        }
        None => detect_network(msisdn).ok_or_else(|| {
            Problem::new(
                422,
                "network_unknown",
                "The number's network could not be detected",
            )
            .with_detail("name the network with `network` (for example airtel_tz)")
        })?,
    };
    let served = network.providers();
    if served.is_empty() {
        return Err(Problem::new(
            422,
            "network_not_supported",
            "No payment provider serves this network",
        )
        .with_detail(format!("{} is not supported yet", network.as_str())));
    }
    let provider = match provider_choice {
        None => served[0],
        Some(name) => {
            let p = Provider::parse(name).ok_or_else(|| {
                Problem::invalid_field("provider", format!("`{name}` is not a provider"))
            })?;
            if !served.contains(&p) {
                return Err(Problem::invalid_field(
                    "provider",
                    format!("{name} does not serve {}", network.as_str()),
                ));
            }
            p
        }
    };
    Ok((network, provider))
}

/// The number shown back to its owner: `+255 7•• ••• 678`.
pub fn masked(msisdn: &str) -> String {
    let n = msisdn.len();
    if n < 7 {
        return format!("+{msisdn}");
    }
    format!("+{}…{}", &msisdn[..4], &msisdn[n - 3..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_to_e164_digits() {
        assert_eq!(normalise("+255 712-345-678").unwrap(), "255712345678");
        assert_eq!(normalise("254712345678").unwrap(), "254712345678");
        assert!(normalise("0712345678").is_err());
        assert!(normalise("+255abc").is_err());
        assert!(normalise("").is_err());
    }

    #[test]
    fn networks_come_from_prefixes() {
        assert_eq!(detect_network("254712345678"), Some(Network::SafaricomKe));
        assert_eq!(detect_network("254110345678"), Some(Network::SafaricomKe));
        assert_eq!(detect_network("254733345678"), Some(Network::AirtelKe));
        assert_eq!(detect_network("255754345678"), Some(Network::VodacomTz));
        assert_eq!(detect_network("255684345678"), Some(Network::AirtelTz));
        assert_eq!(detect_network("255714345678"), Some(Network::TigoTz));
        assert_eq!(detect_network("255624345678"), Some(Network::HalotelTz));
        assert_eq!(detect_network("25571234567"), None, "too short");
        assert_eq!(detect_network("256712345678"), None, "Uganda not served");
    }

    #[test]
    fn the_provider_fixes_the_currency() {
        let (n, p) = resolve("254712345678", None, None).unwrap();
        assert_eq!((n, p.currency()), (Network::SafaricomKe, "KES"));
        let (n, p) = resolve("255684345678", None, Some("tembo")).unwrap();
        assert_eq!(
            (n, p, p.currency()),
            (Network::AirtelTz, Provider::Tembo, "TZS")
        );
        assert!(
            resolve("255754345678", None, Some("tembo")).is_err(),
            "Tembo does not serve Vodacom"
        );
        assert!(
            resolve("254733345678", None, None).is_err(),
            "Airtel Kenya has no provider"
        );
        // An override must stay in the number's country.
        assert!(resolve("255684345678", Some("safaricom_ke"), None).is_err());
        let (n, _) = resolve("255684345678", Some("tigo_tz"), None).unwrap();
        assert_eq!(n, Network::TigoTz, "ported numbers keep working");
    }

    #[test]
    fn tembo_channels() {
        assert_eq!(
            Network::AirtelTz.tembo_channel("C2B").unwrap(),
            "TZ-AIRTEL-C2B"
        );
        assert_eq!(Network::VodacomTz.tembo_channel("C2B"), None);
    }
}
