//! Property descriptors and their validators.

use serde::Serialize;

/// One allowed value of an enumerated property.
#[derive(Clone, Debug, Serialize)]
pub struct AllowableValue {
    /// The value stored in the flow.
    pub value: String,
    /// What the editor shows.
    pub display_name: String,
    /// What it means.
    pub description: String,
}

/// How a property value is checked before a processor may start.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Validator {
    /// Anything (including empty).
    Any,
    /// Not empty.
    NonEmpty,
    /// A whole number in `[min, max]`.
    Integer {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// `true` or `false`.
    Boolean,
    /// A NiFi time period, e.g. `30 sec`.
    TimePeriod,
    /// A NiFi data size, e.g. `1 GB`.
    DataSize,
    /// A regular expression.
    Regex,
    /// A cron expression (seconds first, as NiFi/Quartz).
    Cron,
    /// A character set name.
    Charset,
    /// A TCP/UDP port.
    Port,
}

impl Validator {
    /// A positive whole number.
    pub const POSITIVE_INTEGER: Validator = Validator::Integer { min: 1, max: i64::MAX };
    /// A non-negative whole number.
    pub const NON_NEGATIVE_INTEGER: Validator = Validator::Integer { min: 0, max: i64::MAX };

    /// Checks `value`; the error says what is wrong with it.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        match self {
            Validator::Any => Ok(()),
            Validator::NonEmpty => {
                if value.trim().is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(())
                }
            }
            Validator::Integer { min, max } => match value.trim().parse::<i64>() {
                Ok(n) if n < *min => Err(format!("'{value}' is less than the minimum {min}")),
                Ok(n) if n > *max => Err(format!("'{value}' is more than the maximum {max}")),
                Ok(_) => Ok(()),
                Err(_) => Err(format!("'{value}' is not a whole number")),
            },
            Validator::Boolean => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(()),
                _ => Err(format!("'{value}' is not true or false")),
            },
            Validator::TimePeriod => crate::units::parse_duration(value).map(|_| ()),
            Validator::DataSize => crate::units::parse_data_size(value).map(|_| ()),
            Validator::Regex => {
                regex::Regex::new(value).map(|_| ()).map_err(|e| format!("invalid regular expression: {e}"))
            }
            Validator::Cron => crate::schedule::CronSchedule::parse(value).map(|_| ()),
            Validator::Charset => match value.trim().to_ascii_uppercase().as_str() {
                "UTF-8" | "UTF8" | "US-ASCII" | "ASCII" | "ISO-8859-1" | "LATIN1" => Ok(()),
                _ => Err(format!("'{value}' is not a supported character set (UTF-8, US-ASCII, ISO-8859-1)")),
            },
            Validator::Port => match value.trim().parse::<u16>() {
                Ok(_) => Ok(()),
                Err(_) => Err(format!("'{value}' is not a port number (0-65535)")),
            },
        }
    }
}

/// Describes one property of a processor type: what the editor shows and what the engine
/// validates.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyDescriptor {
    /// Name as used in the flow file (NiFi's name where NiFi has the same property).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Whether a value must be set.
    pub required: bool,
    /// Value used when none is set.
    pub default_value: Option<String>,
    /// The only values allowed, when not empty.
    pub allowable_values: Vec<AllowableValue>,
    /// Secret: never returned by the API, never logged, never written in plain text.
    pub sensitive: bool,
    /// Whether the value may hold `${...}` expressions.
    pub expression_language: bool,
    /// How the value is checked.
    pub validator: Validator,
    /// Shown only when another property has one of some values (`name`, values).
    pub depends_on: Option<(String, Vec<String>)>,
    /// When set, the value is the id of a controller service providing this API (e.g.
    /// `DatabaseConnectionPool`), and the processor gets the service's shared instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_service: Option<String>,
}

impl PropertyDescriptor {
    /// A new optional property with no validation.
    pub fn new(name: impl Into<String>) -> Self {
        PropertyDescriptor {
            name: name.into(),
            description: String::new(),
            required: false,
            default_value: None,
            allowable_values: Vec::new(),
            sensitive: false,
            expression_language: false,
            validator: Validator::Any,
            depends_on: None,
            controller_service: None,
        }
    }

    /// Makes the value a reference to a controller service providing `api`.
    pub fn identifies_service(mut self, api: &str) -> Self {
        self.controller_service = Some(api.to_string());
        self
    }

    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    /// Marks it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the default value.
    pub fn default_value(mut self, v: impl Into<String>) -> Self {
        self.default_value = Some(v.into());
        self
    }

    /// Restricts it to these values (value, description).
    pub fn allowable(mut self, values: &[(&str, &str)]) -> Self {
        self.allowable_values = values
            .iter()
            .map(|(v, d)| AllowableValue {
                value: v.to_string(),
                display_name: v.to_string(),
                description: d.to_string(),
            })
            .collect();
        self
    }

    /// Marks it sensitive.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Marks it as supporting the expression language.
    pub fn expression_language(mut self) -> Self {
        self.expression_language = true;
        self
    }

    /// Sets the validator.
    pub fn validator(mut self, v: Validator) -> Self {
        self.validator = v;
        self
    }

    /// Shows it only when `property` has one of `values`.
    pub fn depends_on(mut self, property: &str, values: &[&str]) -> Self {
        self.depends_on = Some((property.to_string(), values.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Checks a configured value (None = not set); errors name the property.
    pub fn validate(&self, value: Option<&str>) -> Result<(), String> {
        let value = value.or(self.default_value.as_deref());
        let Some(value) = value else {
            return if self.required { Err(format!("'{}' is required", self.name)) } else { Ok(()) };
        };
        if self.required && value.is_empty() {
            return Err(format!("'{}' is required", self.name));
        }
        if value.is_empty() {
            return Ok(());
        }
        // A parameter reference is checked once substituted (when the processor is scheduled).
        if value.contains("#{") {
            return Ok(());
        }
        if !self.allowable_values.is_empty() && !self.allowable_values.iter().any(|a| a.value == value) {
            let allowed: Vec<&str> = self.allowable_values.iter().map(|a| a.value.as_str()).collect();
            return Err(format!("'{}' must be one of {}, not '{value}'", self.name, allowed.join(", ")));
        }
        if self.expression_language && value.contains("${") {
            return sluice_expression::validate(value).map_err(|e| format!("'{}': {e}", self.name));
        }
        self.validator.validate(value).map_err(|e| format!("'{}': {e}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_reference_passes_until_it_is_substituted() {
        let p = PropertyDescriptor::new("Protocol").required().allowable(&[("UDP", ""), ("TCP", "")]);
        assert!(p.validate(Some("#{proto}")).is_ok());
        assert!(p.validate(Some("TCP")).is_ok());
        let e = p.validate(Some("SCTP")).unwrap_err();
        assert!(e.contains("'Protocol' must be one of UDP, TCP, not 'SCTP'"), "{e}");
    }
}
