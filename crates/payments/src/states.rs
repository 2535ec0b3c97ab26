//! The states of the service's rows, as the database's CHECK constraints list them
//! (`payments.intents.state`, `payments.payables.state`, `payments.disbursements.state`).

use nexgate_platform::Problem;

/// A state enum written as the text the database stores.
macro_rules! db_states {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// The text the database stores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// From the database's text; another text is a 500 (the CHECK constraint forbids it).
            pub fn parse(text: &str) -> Result<Self, Problem> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(Problem::internal(format!(
                        "{}: unknown state `{other}`",
                        stringify!($name)
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

db_states! {
    /// Where a payment attempt stands.
    IntentState {
        Created = "created",
        AwaitingCustomer = "awaiting_customer",
        Processing = "processing",
        Succeeded = "succeeded",
        Failed = "failed",
        Expired = "expired",
        Refunded = "refunded",
        PartiallyRefunded = "partially_refunded",
    }
}

db_states! {
    /// Where a payable (what is owed, and its escrow) stands.
    PayableState {
        Open = "open",
        Paid = "paid",
        Released = "released",
        Frozen = "frozen",
        Voided = "voided",
        Refunded = "refunded",
    }
}

db_states! {
    /// Where a refund or payout stands.
    DisbursementState {
        Created = "created",
        Sent = "sent",
        Succeeded = "succeeded",
        Failed = "failed",
        Unknown = "unknown",
    }
}

impl IntentState {
    /// Still waiting on the customer or the provider.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            IntentState::Created | IntentState::AwaitingCustomer | IntentState::Processing
        )
    }
}

impl DisbursementState {
    /// Decided: the money left, or it is back.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DisbursementState::Succeeded | DisbursementState::Failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_what_they_write_and_refuse_other_text() {
        for s in [IntentState::Created, IntentState::PartiallyRefunded] {
            assert_eq!(IntentState::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(PayableState::parse("frozen").unwrap(), PayableState::Frozen);
        assert!(DisbursementState::parse("lost").is_err());
        assert_eq!(
            serde_json::to_value(DisbursementState::Unknown).unwrap(),
            "unknown"
        );
        assert!(IntentState::Expired.is_final() && !IntentState::Processing.is_final());
    }
}
