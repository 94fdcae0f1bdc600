use super::*;

/// Object bounds: (start, end) pairs.
type Bounds = Vec<(usize, usize)>;

/// The objects `top_objects` reports, against the careful walk.
fn both_ways(arr: &[u8]) -> (Bounds, Bounds) {
    let mut fast = Vec::new();
    // Past the last object there is nothing to stop at: `false`.
    assert!(!top_objects(arr, usize::MAX, |s, e| fast.push((s, e))));
    let mut careful = Vec::new();
    elements(arr, |s, raw| {
        if raw.first() == Some(&b'{') {
            careful.push((s, s + raw.len()));
        }
    })
    .unwrap();
    (fast, careful)
}

#[test]
fn top_objects_agree_with_the_careful_walk() {
    let cases: [&[u8]; 6] = [
        br#"[{"a": "}{"}, {"b": {"c": "x\"}"}}]"#,
        br#"[{"a": "\\"}, {"b": "\\\"{"}]"#,
        br#"[ {"t":"[{]}"} ,{"u":[{"v":1},{"w":"\u007b"}]},{}]"#,
        b"[\n{\"x\": \"line\\nbreak {\"}\n]",
        br#"[{"deep": {"deeper": {"deepest": "}}}"}}}, {"n": null}]"#,
        br#"[{"a":"\"\"\"}"},{"b":"\\\\"}]"#,
    ];
    for c in cases {
        let (fast, careful) = both_ways(c);
        assert_eq!(fast, careful, "{}", String::from_utf8_lossy(c));
    }
}

#[test]
fn top_objects_stop_after_the_object_holding_the_offset() {
    let arr = br#"[{"a": 1}, {"b": 2}, {"c": 3}]"#;
    let mut seen = Vec::new();
    assert!(top_objects(arr, 13, |s, _| seen.push(s)));
    assert_eq!(seen, vec![1, 11]);
    // Unbalanced braces are refused, not guessed at.
    assert!(!top_objects(br#"[{"a": 1}}, {"b": 2}]"#, 15, |_, _| ()));
    assert!(!top_objects(br#"[{"a": "1}]"#, 5, |_, _| ()));
}

#[test]
fn members_and_elements_skim_without_parsing() {
    let obj = br#" {"a": 1, "t\u0065xt": "h\/i", "n": {"x": [1, "]"]}, "z": null} "#;
    let mut seen = Vec::new();
    members(obj, |k, v| seen.push((k, v))).unwrap();
    assert_eq!(
        seen,
        [
            (&b"a"[..], &b"1"[..]),
            (b"t\\u0065xt", br#""h\/i""#),
            (b"n", br#"{"x": [1, "]"]}"#),
            (b"z", b"null"),
        ]
    );
    assert_eq!(string(br#""h\/i""#).as_deref(), Some("h/i"));
    assert_eq!(
        string(br#""plain""#),
        Some(std::borrow::Cow::Borrowed("plain"))
    );
    assert_eq!(string(b"null"), None);
    assert!(is_empty(b"[]") && is_empty(b"[ ]") && is_empty(b"null") && !is_empty(b"[1]"));

    let mut n = 0;
    elements(b"[{}, {\"a\": [1]} ,3]", |_, _| n += 1).unwrap();
    assert_eq!(n, 3);
    assert!(members(br#"{"a" 1}"#, |_, _| ()).is_err());
    assert!(members(br#"{"a": 1"#, |_, _| ()).is_err());
    assert_eq!(
        elements(br#"[{"a": "unterminated}]"#, |_, _| ())
            .unwrap_err()
            .expected,
        "the end of a value (truncated?)"
    );
}

#[test]
fn plain_members_accept_only_what_means_the_same_to_a_parser() {
    let read = |line: &str| {
        let mut got = Vec::new();
        plain_members(line, |k, v| {
            got.push((k.to_owned(), v));
            true
        })
        .then_some(got.len())
    };
    let plain = [
        r#"{"id": "1", "platform": "slack", "text": "hi <https://zoom.us/j/1|x> café"}"#,
        r#" { "id" : 42 , "text":"", "platform" : null } "#,
        "{}",
        r#"{"id": 0, "text": "t"}"#,
        "{\"text\":\"a\"}\t\r",
    ];
    for line in plain {
        let n = read(line).unwrap_or_else(|| panic!("plain: {line}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(n, v.as_object().unwrap().len(), "{line}");
    }
    let not = [
        r#"{"text": "a\/b"}"#,
        r#"{"t\u0065xt": "a"}"#,
        "{\"text\": \"tab\there\"}",
        r#"{"id": -1, "text": "a"}"#,
        r#"{"id": 1.5, "text": "a"}"#,
        r#"{"id": 01, "text": "a"}"#,
        r#"{"id": 1234567890123456789, "text": "a"}"#,
        r#"{"id": true, "text": "a"}"#,
        r#"{"n": {"x": 1}}"#,
        r#"{"text": "a"} x"#,
        r#"{"text": "a",}"#,
        r#"{"text" "a"}"#,
        r#"{"text": "a""#,
        r#"["text"]"#,
        r#"{"text": nul}"#,
        "",
    ];
    for line in not {
        assert_eq!(read(line), None, "not plain: {line}");
    }
    // The caller can stop early.
    assert!(!plain_members(r#"{"a": "1", "b": "2"}"#, |k, _| k != "b"));
}

#[test]
fn values_end_where_json_says() {
    assert_eq!(value_len(br#""a\"b" , 1"#, false), Some(6));
    assert_eq!(value_len(br#"{"a":"}","b":[1,{}]} tail"#, false), Some(20));
    assert_eq!(value_len(b"123,", false), Some(3));
    assert_eq!(value_len(b"123", false), None);
    assert_eq!(value_len(b"123", true), Some(3));
    assert_eq!(value_len(br#"{"a":"x"#, false), None);
    assert_eq!(value_len(br#""ends with \"#, false), None);
    // Escaped quotes and backslashes around brackets inside strings.
    assert_eq!(value_len(br#"{"a":"\"}"} x"#, false), Some(11));
    assert_eq!(value_len(br#"{"a":"\\"} x"#, false), Some(10));
    assert_eq!(value_len(br#"{"a":"\\\"}"} x"#, false), Some(13));
    assert_eq!(value_len(br#"["]", ["\"]"], "["] x"#, false), Some(19));
    assert_eq!(value_len(br#"[{"a":"]"}"#, false), None);
}
