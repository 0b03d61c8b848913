//! Unit tests per function family (see also `tests/conformance.rs`).
use std::collections::{BTreeMap, HashMap};

use super::*;

pub(crate) fn env() -> EvalEnv {
    EvalEnv::default().with_fixed_now_millis(1_403_620_278_642).with_time_zone("UTC").unwrap().with_env_fallback(false)
}

pub(crate) fn ev(expr: &str, attrs: &[(&str, &str)]) -> Result<String, ElError> {
    Expression::compile(expr)?.evaluate_with(&attrs.to_vec(), None, &env())
}

#[test]
fn smoke() {
    assert_eq!(ev("${filename:toUpper()}", &[("filename", "a.txt")]).unwrap(), "A.TXT");
}

#[test]
fn pathological_inputs_do_not_overflow_the_stack() {
    let long_chain = format!("${{a{}}}", ":toUpper()".repeat(5000));
    assert!(Expression::compile(&long_chain).is_err());
    let ok_chain = format!("${{a{}}}", ":trim()".repeat(200));
    assert_eq!(ev(&ok_chain, &[("a", " x ")]).unwrap(), "x");
    let nested = format!("{}a{}", "${".repeat(10_000), "}".repeat(10_000));
    assert!(Expression::compile(&nested).is_err());
    let nested_literals = format!("{}{}", "${literal('".repeat(3000), "')}".repeat(3000));
    let _ = Expression::compile(&nested_literals);
}

#[test]
fn deeply_nested_arguments_evaluate() {
    let depth = 45;
    let text = format!("{}{}", "${a:append(".repeat(depth), "'x'".to_string() + &")}".repeat(depth));
    let out = ev(&text, &[("a", "a")]).unwrap();
    assert_eq!(out, format!("{}x", "a".repeat(depth)));
    let too_deep = format!("{}{}", "${a:append(".repeat(100), "'x'".to_string() + &")}".repeat(100));
    assert!(Expression::compile(&too_deep).is_err());
}

#[test]
fn syntax_errors_name_the_column() {
    let e = Expression::compile("${a:toUpper(}").unwrap_err();
    assert!(matches!(e, ElError::Syntax { position: 13, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "expected an argument (string, number, boolean or expression) but found '}' at column 13 in '${a:toUpper(}'"
    );
    let e = Expression::compile("abc ${a b}").unwrap_err();
    assert_eq!(e.position(), Some(9));
    assert!(e.is_compile_error());
}

#[test]
fn unknown_function_and_arity_errors() {
    let e = Expression::compile("${a:frobnicate()}").unwrap_err();
    assert!(matches!(&e, ElError::UnknownFunction { name, position: 5, .. } if name == "frobnicate"), "{e:?}");
    assert!(e.to_string().contains("unknown function 'frobnicate'"));
    let e = Expression::compile("${a:substring(1,2,3)}").unwrap_err();
    assert!(matches!(&e, ElError::ArgumentCount { function, got: 3, .. } if function == "substring"), "{e:?}");
    assert!(e.to_string().contains("substring() takes 1 to 2 arguments but 3 were given"));
    let e = Expression::compile("${a:isNull():plus(1)}").unwrap_err();
    assert!(matches!(e, ElError::Type { .. }), "{e:?}");
    assert!(validate("${a:toUpper()}").is_ok());
    assert!(validate("${a:toUpper(}").is_err());
}

#[test]
fn evaluation_errors_are_eval_errors() {
    let e = ev("${a:divide(0)}", &[("a", "1")]).unwrap_err();
    assert!(matches!(e, ElError::Eval(_)));
    assert!(!e.is_compile_error());
    assert_eq!(e.position(), None);
}

#[test]
fn literal_detection_and_sources() {
    let e = Expression::compile("plain $$5 text").unwrap();
    assert!(e.is_literal());
    assert_eq!(e.literal_value(), Some("plain $$5 text"));
    let e = Expression::compile("$${a}").unwrap();
    assert!(e.is_literal());
    assert_eq!(e.literal_value(), Some("${a}"));
    assert_eq!(e.source(), "$${a}");
    assert!(!Expression::compile("${a}").unwrap().is_literal());
    assert!(!Expression::compile("#{p}").unwrap().is_literal());
}

#[test]
fn referenced_attributes_and_parameters() {
    let e = Expression::compile("${a:append(${b}):equals(${'c d'})} ${a} ${allAttributes('x','y'):join(${sep})} #{p}")
        .unwrap();
    assert_eq!(e.referenced_attributes(), vec!["a", "b", "c d", "x", "y", "sep"]);
    assert_eq!(e.referenced_parameters(), vec!["p"]);
}

#[test]
fn evaluate_bool_for_routing() {
    let e = Expression::compile("${a:equals('x'):and(${b:gt(5)})}").unwrap();
    let yes: HashMap<String, String> = HashMap::from([("a".into(), "x".into()), ("b".into(), "9".into())]);
    let no: HashMap<String, String> = HashMap::from([("a".into(), "x".into()), ("b".into(), "1".into())]);
    assert!(e.evaluate_bool(&yes).unwrap());
    assert!(!e.evaluate_bool(&no).unwrap());
    assert!(Expression::compile("${a}").unwrap().evaluate_bool(&[("a", "TRUE")].to_vec()).unwrap());
    assert!(Expression::compile("TRUE").unwrap().evaluate_bool(&no).unwrap());
    assert!(!Expression::compile("${a} ").unwrap().evaluate_bool(&[("a", "true")].to_vec()).unwrap());
}

#[test]
fn attribute_source_impls() {
    let e = Expression::compile("${k}").unwrap();
    let hm: HashMap<String, String> = HashMap::from([("k".into(), "v".into())]);
    let bt: BTreeMap<String, String> = BTreeMap::from([("k".into(), "v".into())]);
    let vec = vec![("k".to_string(), "v".to_string())];
    let slice: &[(&str, &str)] = &[("k", "v")];
    assert_eq!(e.evaluate(&hm).unwrap(), "v");
    assert_eq!(e.evaluate(&bt).unwrap(), "v");
    assert_eq!(e.evaluate(&vec).unwrap(), "v");
    assert_eq!(e.evaluate(&slice).unwrap(), "v");
}

#[test]
fn environment_variable_fallback() {
    // PATH is set in any test environment
    let path = std::env::var("PATH").unwrap_or_default();
    let e = Expression::compile("${PATH}").unwrap();
    let none: Vec<(String, String)> = Vec::new();
    assert_eq!(e.evaluate_with(&none, None, &EvalEnv::default()).unwrap(), path);
    assert_eq!(e.evaluate_with(&none, None, &env()).unwrap(), "");
    let shadow = vec![("PATH".to_string(), "attr wins".to_string())];
    assert_eq!(e.evaluate_with(&shadow, None, &EvalEnv::default()).unwrap(), "attr wins");
}

#[test]
fn parameters_resolve_inside_and_outside_expressions() {
    let params: HashMap<String, String> = HashMap::from([("dir".into(), "/data".into())]);
    let e = Expression::compile("#{dir}/${name:toLower()}-${#{dir}:length()}").unwrap();
    let out = e.evaluate_with(&vec![("name", "A.TXT")], Some(&params), &env()).unwrap();
    assert_eq!(out, "/data/a.txt-5");
}

#[test]
fn expression_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Expression>();
    assert_traits::<EvalEnv>();
    let e = Expression::compile("${a:toUpper()}").unwrap();
    let e2 = e.clone();
    let h = std::thread::spawn(move || e2.evaluate(&vec![("a", "x")]).unwrap());
    assert_eq!(h.join().unwrap(), "X");
    assert_eq!(e.evaluate(&vec![("a", "y")]).unwrap(), "Y");
}

#[test]
fn string_family() {
    let a = [("s", "Hello World")];
    assert_eq!(ev("${s:toLower():replace('o', '0')}", &a).unwrap(), "hell0 w0rld");
    assert_eq!(ev("${s:substringAfter(' '):prepend('>')}", &a).unwrap(), ">World");
    assert_eq!(ev("${s:length():plus(1)}", &a).unwrap(), "12");
    assert_eq!(ev("${s:replaceAll('(\\w+) (\\w+)', '$2 $1')}", &a).unwrap(), "World Hello");
    assert_eq!(ev("${s:urlEncode():urlDecode()}", &a).unwrap(), "Hello World");
    assert_eq!(ev("${s:escapeXml():unescapeXml()}", &[("s", "<&>")]).unwrap(), "<&>");
}

#[test]
fn math_family() {
    assert_eq!(ev("${a:plus(2):multiply(3)}", &[("a", "1")]).unwrap(), "9");
    assert_eq!(ev("${a:divide(2)}", &[("a", "7")]).unwrap(), "3");
    assert_eq!(ev("${a:divide(2.0)}", &[("a", "7")]).unwrap(), "3.5");
    assert_eq!(ev("${a:mod(-3)}", &[("a", "-7")]).unwrap(), "-1");
    assert_eq!(ev("${a:toDecimal():multiply(1e10)}", &[("a", "1")]).unwrap(), "1.0E10");
    assert_eq!(ev("${a:plus(1)}", &[("a", "9223372036854775807")]).unwrap(), "-9223372036854775808");
}

#[test]
fn date_family() {
    assert_eq!(ev("${now():format('yyyy-MM-dd')}", &[]).unwrap(), "2014-06-24");
    assert_eq!(
        ev("${d:toDate('dd/MM/yyyy HH:mm', 'Europe/Paris'):toNumber()}", &[("d", "01/01/2020 01:00")]).unwrap(),
        "1577836800000"
    );
    assert_eq!(ev("${d:toDate('yyyy-MM-dd'):format('EEE')}", &[("d", "2024-02-29")]).unwrap(), "Thu");
    assert!(ev("${d:toDate('yyyy-MM-dd')}", &[("d", "nope")]).is_err());
}

#[test]
fn json_family() {
    let a = [("j", r#"{"a":{"b":[1,2,3]},"s":"x"}"#)];
    assert_eq!(ev("${j:jsonPath('$.a.b[1]')}", &a).unwrap(), "2");
    assert_eq!(ev("${j:jsonPath('$.a.b')}", &a).unwrap(), "[1,2,3]");
    assert_eq!(ev("${j:jsonPathSet('$.s', 'y'):jsonPath('$.s')}", &a).unwrap(), "y");
    assert_eq!(ev("${j:isJson()}", &a).unwrap(), "true");
}

#[test]
fn multi_attribute_family() {
    let a = [("x.1", "1"), ("x.2", "22"), ("y", "3")];
    assert_eq!(ev("${allMatchingAttributes('x\\..*'):join('+')}", &a).unwrap(), "1+22");
    assert_eq!(ev("${anyMatchingAttribute('x\\..*'):length():gt(1)}", &a).unwrap(), "true");
    assert_eq!(ev("${allAttributes('x.1','y'):toNumber():lt(5)}", &a).unwrap(), "true");
    assert_eq!(ev("${anyDelimitedValue('a;b', ';'):equals('b')}", &a).unwrap(), "true");
}
