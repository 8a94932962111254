//! Condition operator names: `ForAnyValue:StringLikeIfExists` and friends, parsed into
//! their three parts so evaluation never looks at strings again.

/// The comparison a condition operator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorKind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const KINDS: [(OperatorKind, &str); 27] = [
    (OperatorKind::StringEquals, "StringEquals"),
    (OperatorKind::StringNotEquals, "StringNotEquals"),
    (
        OperatorKind::StringEqualsIgnoreCase,
        "StringEqualsIgnoreCase",
    ),
    (
        OperatorKind::StringNotEqualsIgnoreCase,
        "StringNotEqualsIgnoreCase",
    ),
    (OperatorKind::StringLike, "StringLike"),
    (OperatorKind::StringNotLike, "StringNotLike"),
    (OperatorKind::NumericEquals, "NumericEquals"),
    (OperatorKind::NumericNotEquals, "NumericNotEquals"),
    (OperatorKind::NumericLessThan, "NumericLessThan"),
    (OperatorKind::NumericLessThanEquals, "NumericLessThanEquals"),
    (OperatorKind::NumericGreaterThan, "NumericGreaterThan"),
    (
        OperatorKind::NumericGreaterThanEquals,
        "NumericGreaterThanEquals",
    ),
    (OperatorKind::DateEquals, "DateEquals"),
    (OperatorKind::DateNotEquals, "DateNotEquals"),
    (OperatorKind::DateLessThan, "DateLessThan"),
    (OperatorKind::DateLessThanEquals, "DateLessThanEquals"),
    (OperatorKind::DateGreaterThan, "DateGreaterThan"),
    (OperatorKind::DateGreaterThanEquals, "DateGreaterThanEquals"),
    (OperatorKind::Bool, "Bool"),
    (OperatorKind::BinaryEquals, "BinaryEquals"),
    (OperatorKind::IpAddress, "IpAddress"),
    (OperatorKind::NotIpAddress, "NotIpAddress"),
    (OperatorKind::ArnEquals, "ArnEquals"),
    (OperatorKind::ArnLike, "ArnLike"),
    (OperatorKind::ArnNotEquals, "ArnNotEquals"),
    (OperatorKind::ArnNotLike, "ArnNotLike"),
    (OperatorKind::Null, "Null"),
];

impl OperatorKind {
    /// The operator's name as AWS documents it.
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("Null", |(_, n)| n)
    }

    fn from_name(name: &str) -> Option<OperatorKind> {
        KINDS.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// Negated operators are true when no value matches (and when the key is absent).
    pub fn is_negated(self) -> bool {
        use OperatorKind::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Whether policy variables (`${aws:username}`) are expanded in this operator's values.
    pub fn takes_variables(self) -> bool {
        use OperatorKind::*;
        matches!(
            self,
            StringEquals
                | StringNotEquals
                | StringEqualsIgnoreCase
                | StringNotEqualsIgnoreCase
                | StringLike
                | StringNotLike
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
        )
    }
}

/// The set operator prefix for multivalued context keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetOperator {
    /// `ForAnyValue:`: at least one request value must satisfy the operator.
    ForAnyValue,
    /// `ForAllValues:`: every request value must satisfy it (true when there is none).
    ForAllValues,
}

/// A parsed condition operator such as `ForAllValues:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    pub set: Option<SetOperator>,
    pub kind: OperatorKind,
    /// `...IfExists`: true when the key is absent from the request.
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name as AWS spells it; `None` for names AWS does not know.
    /// Spelling is exact, so every operator has one name and one JSON key.
    pub fn parse(name: &str) -> Option<Operator> {
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOperator::ForAnyValue), rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (Some(SetOperator::ForAllValues), rest)
        } else {
            (None, name)
        };
        if let Some(kind) = OperatorKind::from_name(rest) {
            return Some(Operator {
                set,
                kind,
                if_exists: false,
            });
        }
        let base = rest.strip_suffix("IfExists")?;
        let kind = OperatorKind::from_name(base)?;
        if kind == OperatorKind::Null {
            return None;
        }
        Some(Operator {
            set,
            kind,
            if_exists: true,
        })
    }

    /// The canonical name, as AWS spells it.
    pub fn name(&self) -> String {
        let prefix = match self.set {
            None => "",
            Some(SetOperator::ForAnyValue) => "ForAnyValue:",
            Some(SetOperator::ForAllValues) => "ForAllValues:",
        };
        let suffix = if self.if_exists { "IfExists" } else { "" };
        format!("{prefix}{}{suffix}", self.kind.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_parse_and_print_canonically() {
        let cases = [
            ("StringEquals", "StringEquals"),
            ("ForAnyValue:StringLike", "ForAnyValue:StringLike"),
            (
                "ForAllValues:StringNotEqualsIfExists",
                "ForAllValues:StringNotEqualsIfExists",
            ),
            ("NotIpAddressIfExists", "NotIpAddressIfExists"),
            ("Null", "Null"),
        ];
        for (input, canonical) in cases {
            let op = Operator::parse(input).unwrap_or_else(|| panic!("{input}"));
            assert_eq!(op.name(), canonical);
        }
    }

    #[test]
    fn unknown_operators_are_rejected() {
        for name in [
            "StringEqual",
            "stringequals",
            "ForAnyValue:numericEquals",
            "NullIfExists",
            "ForSomeValues:StringEquals",
            "",
            "IfExists",
        ] {
            assert_eq!(Operator::parse(name), None, "{name}");
        }
    }
}
