//! Property-based tests: the compiler and evaluator never panic, literal text round-trips,
//! and `$$` escaping round-trips.

use std::collections::HashMap;

use proptest::prelude::*;
use sluice_expression::{EvalEnv, Expression};

fn env() -> EvalEnv {
    EvalEnv::default().with_fixed_now_millis(0).with_env_fallback(false).with_time_zone("UTC").unwrap()
}

fn attrs() -> HashMap<String, String> {
    HashMap::from([
        ("a".to_string(), "hello, world".to_string()),
        ("n".to_string(), "42".to_string()),
        ("d".to_string(), "1.5".to_string()),
        ("j".to_string(), "{\"x\":[1,2]}".to_string()),
    ])
}

/// Fragments that make random inputs look like EL often enough to reach deep code paths.
fn el_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("${".to_string()),
        Just("}".to_string()),
        Just("$$".to_string()),
        Just("#{".to_string()),
        Just(":".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("a".to_string()),
        Just("n".to_string()),
        Just("toUpper()".to_string()),
        Just("substring(1,".to_string()),
        Just("plus(1.5)".to_string()),
        Just("format('yyyy-MM-dd HH:mm:ss.SSS Z')".to_string()),
        Just("toDate('yyyyMMdd')".to_string()),
        Just("replaceAll('(.)', '$1$1')".to_string()),
        Just("jsonPath('$.x[0]')".to_string()),
        Just("anyAttribute('a','n')".to_string()),
        Just("allMatchingAttributes('.*')".to_string()),
        Just("count()".to_string()),
        Just("join(',')".to_string()),
        Just("equals(".to_string()),
        Just("math('pow', 2)".to_string()),
        Just("getDelimitedField(2)".to_string()),
        "[ -~]{0,3}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn el_like() -> impl Strategy<Value = String> {
    prop::collection::vec(el_fragment(), 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        if let Ok(e) = Expression::compile(&s) {
            let _ = e.evaluate_with(&attrs(), None, &env());
        }
    }

    #[test]
    fn never_panics_on_el_like_strings(s in el_like()) {
        if let Ok(e) = Expression::compile(&s) {
            let _ = e.evaluate_with(&attrs(), None, &env());
            let _ = e.referenced_attributes();
        }
    }

    #[test]
    fn text_without_dollar_or_hash_is_literal(s in "[^$#]*") {
        let e = Expression::compile(&s).unwrap();
        prop_assert!(e.is_literal());
        prop_assert_eq!(e.literal_value(), Some(s.as_str()));
        prop_assert_eq!(e.evaluate_with(&attrs(), None, &env()).unwrap(), s);
    }

    #[test]
    fn escaped_expressions_round_trip(name in "[a-z][a-z0-9.]{0,8}", pre in "[a-z ]{0,5}", post in "[a-z ]{0,5}") {
        // `$${name}` always yields the literal text `${name}`
        let text = format!("{pre}$${{{name}}}{post}");
        let e = Expression::compile(&text).unwrap();
        prop_assert_eq!(e.evaluate_with(&attrs(), None, &env()).unwrap(), format!("{pre}${{{name}}}{post}"));
    }

    #[test]
    fn attribute_values_pass_through(v in any::<String>()) {
        let m = HashMap::from([("x".to_string(), v.clone())]);
        let e = Expression::compile("${x}").unwrap();
        prop_assert_eq!(e.evaluate_with(&m, None, &env()).unwrap(), v.clone());
        let e = Expression::compile("${x:append('')}").unwrap();
        prop_assert_eq!(e.evaluate_with(&m, None, &env()).unwrap(), v);
    }

    #[test]
    fn whole_number_text_round_trips(n in any::<i64>()) {
        let m = HashMap::from([("x".to_string(), n.to_string())]);
        let e = Expression::compile("${x:toNumber()}").unwrap();
        prop_assert_eq!(e.evaluate_with(&m, None, &env()).unwrap(), n.to_string());
    }

    #[test]
    fn decimal_text_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let text = sluice_expression::number_format::java_double_to_string(x);
        let m = HashMap::from([("x".to_string(), text.clone())]);
        let e = Expression::compile("${x:toDecimal()}").unwrap();
        let out = e.evaluate_with(&m, None, &env()).unwrap();
        prop_assert_eq!(out.parse::<f64>().unwrap(), x);
        prop_assert_eq!(out, text);
    }
}
