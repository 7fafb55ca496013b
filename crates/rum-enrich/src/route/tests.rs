use proptest::prelude::*;

use super::*;
use RouteOrigin::{Heuristic, Rule};

fn policy_with_rules(rules: &[&str]) -> RoutePolicy {
    RoutePolicy::new(&RoutePolicyConfig {
        rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
        ..RoutePolicyConfig::default()
    })
    .expect("valid test policy")
}

fn assert_route_is_safe(route: &str, max_bytes: usize) {
    assert!(route.len() <= max_bytes, "too long: {route:?}");
    assert!(route.starts_with('/'), "no leading slash: {route:?}");
    assert!(!route.contains(['?', '#']), "query or fragment: {route:?}");
    assert!(!route.chars().any(is_unsafe_char), "unsafe char: {route:?}");
    assert!(
        !route
            .split('/')
            .any(|segment| segment == "." || segment == ".."),
        "dot segment: {route:?}"
    );
}

/// `(path, route)`: the route the default policy gives the page `https://e.com{path}`.
fn check_routes(cases: &[(&str, &str)]) {
    check_routes_with(&RoutePolicy::default(), cases);
}

/// [`check_routes`] under `policy`.
fn check_routes_with(policy: &RoutePolicy, cases: &[(&str, &str)]) {
    for &(path, expected) in cases {
        let url = format!("https://e.com{path}");
        assert_eq!(policy.scrub(&url).route, expected, "{url}");
    }
}

/// `(path, route, origin)`: the route `policy` gives `https://e.com{path}`, and whether a rule or
/// the heuristics made it.
fn check_rules(policy: &RoutePolicy, cases: &[(&str, &str, RouteOrigin)]) {
    for &(path, expected, origin) in cases {
        let url = format!("https://e.com{path}");
        let scrubbed = policy.scrub(&url);
        assert_eq!(
            (scrubbed.route.as_str(), scrubbed.route_origin),
            (expected, origin),
            "{url}"
        );
    }
}

/// `(url, kept)`: the URL `policy` keeps of each page URL.
fn check_urls(policy: &RoutePolicy, cases: &[(&str, &str)]) {
    for &(url, expected) in cases {
        assert_eq!(policy.scrub(url).url, expected, "{url}");
    }
}

// --- URL to keep ---

#[test]
fn no_query_string_or_fragment_survives_by_default() {
    let scrubbed = RoutePolicy::default()
        .scrub("https://shop.example.com/products/42?utm_source=mail&email=a%40b.c#reviews");
    assert_eq!(scrubbed.url, "https://shop.example.com/products/42");
    assert_eq!(scrubbed.route, "/products/:id");
    assert_eq!(scrubbed.route_origin, RouteOrigin::Heuristic);
}

#[test]
fn allow_listed_query_params_survive_in_order() {
    let policy = RoutePolicy::new(&RoutePolicyConfig {
        allowed_query_params: vec!["page".to_owned(), "sort by".to_owned()],
        ..RoutePolicyConfig::default()
    })
    .expect("valid policy");
    let scrubbed =
        policy.scrub("https://example.com/list?token=s3cr3t&page=2&sort+by=price&Page=9&page#x");
    assert_eq!(
        scrubbed.url,
        "https://example.com/list?page=2&sort+by=price&page"
    );
    assert_eq!(scrubbed.route, "/list");
    let nothing_allowed = policy.scrub("https://example.com/list?token=s3cr3t");
    assert_eq!(nothing_allowed.url, "https://example.com/list");
}

#[test]
fn userinfo_default_ports_and_host_case_are_normalised() {
    check_urls(
        &RoutePolicy::default(),
        &[
            (
                "HTTPS://user:pa%40ss@Shop.Example.COM:443/A/b",
                "https://shop.example.com/A/b",
            ),
            ("http://example.com:80?x=1", "http://example.com/"),
            ("http://example.com:8080/", "http://example.com:8080/"),
            (
                "https://[2001:DB8::1]:8443/x",
                "https://[2001:db8::1]:8443/x",
            ),
        ],
    );
}

// --- heuristics ---

#[test]
fn numeric_ids_become_id() {
    check_routes(&[
        ("/users/123/orders/4567", "/users/:id/orders/:id"),
        ("/", "/"),
        ("", "/"),
    ]);
}

#[test]
fn uuids_become_uuid() {
    check_routes(&[
        (
            "/o/3F2504E0-4F89-11D3-9A0C-0305E82C3301/items",
            "/o/:uuid/items",
        ),
        ("/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/o/:uuid"),
    ]);
}

#[test]
fn hex_hashes_become_hash() {
    check_routes(&[
        (
            "/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "/commit/:hash",
        ),
        ("/c/3f2a9c1d", "/c/:hash"),
        ("/c/deadbeefdeadbeef", "/c/:hash"),
        // Short, or all letters: words, not hashes.
        ("/c/deadbeef", "/c/deadbeef"),
        ("/c/facade", "/c/facade"),
        ("/c/abc123", "/c/abc123"),
    ]);
}

#[test]
fn emails_become_email() {
    check_routes(&[
        (
            "/users/jane.doe@example.com/profile",
            "/users/:email/profile",
        ),
        ("/users/jane.doe%40example.com", "/users/:email"),
        ("/@jane", "/@jane"),
    ]);
}

#[test]
fn random_tokens_become_token_but_slugs_stay() {
    check_routes(&[
        ("/reset/aZ3kP9qLm2XvB7nR4tYw8", "/reset/:token"),
        (
            "/s/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjEyM30.abc_DEF-123",
            "/s/:token",
        ),
        ("/i/k3j4h5g6f7d8s9a0q1w2e3", "/i/:token"),
        (
            "/blog/how-we-cut-lcp-in-half-2024",
            "/blog/how-we-cut-lcp-in-half-2024",
        ),
        ("/Products/BlueShirt", "/Products/BlueShirt"),
    ]);
}

#[test]
fn ids_keep_a_short_extension() {
    check_routes(&[
        ("/article/123456.html", "/article/:id.html"),
        ("/a/3f2a9c1d8e7b6a5f.js", "/a/:hash.js"),
        ("/docs/intro.html", "/docs/intro.html"),
    ]);
}

#[test]
fn trailing_and_repeated_slashes_do_not_split_routes() {
    check_routes(&[
        ("/about/", "/about"),
        ("//about//team/", "/about/team"),
        ("/about", "/about"),
    ]);
}

#[test]
fn paths_keep_their_case_and_decoded_unicode() {
    check_routes(&[
        ("/Docs/README", "/Docs/README"),
        ("/caf%C3%A9/men%C3%BC", "/café/menü"),
        ("/café", "/café"),
    ]);
}

// --- hostile paths ---

#[test]
fn traversal_never_climbs_above_the_root() {
    check_routes(&[
        ("/a/b/../c", "/a/c"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/./b/.", "/a/b"),
        ("/a/%2e%2e/%2E%2E/%2e/x", "/x"),
        ("/a/.%2e/b", "/b"),
        ("/a\\..\\b", "/b"),
        // One decoding pass only: `%252e%252e` is the literal text `%2e%2e`.
        ("/a/%252e%252e", "/a/%2e%2e"),
    ]);
}

#[test]
fn encoded_separators_stay_inside_their_segment() {
    check_routes(&[
        ("/files/a%2Fb", "/files/a%2Fb"),
        ("/files/..%2F..%2Fetc", "/files/..%2F..%2Fetc"),
        ("/q/a%3Fb%23c%5Cd", "/q/a%3Fb%23c%5Cd"),
    ]);
}

#[test]
fn control_invisible_and_invalid_bytes_are_replaced() {
    check_routes(&[
        ("/a%00b/c", "/:invalid/c"),
        ("/a%0d%0aSet-Cookie", "/:invalid"),
        ("/%FF%FE", "/:invalid"),
        ("/admin%E2%80%AEnimda", "/:invalid"),
        // Malformed escapes stay as they are.
        ("/x%zz%", "/x%zz%"),
    ]);
}

#[test]
fn long_segments_become_long() {
    let title = "a-very-long-free-text-title-".repeat(5);
    check_routes(&[(&format!("/search/{title}"), "/search/:long")]);
}

#[test]
fn deep_paths_collapse_into_rest() {
    check_routes(&[
        ("/a/b/c/d/e/f/g/h/i/j/k", "/a/b/c/d/e/f/g/h/:rest"),
        ("/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/g/h"),
    ]);
    let small = RoutePolicy::new(&RoutePolicyConfig {
        max_segments: 2,
        ..RoutePolicyConfig::default()
    })
    .expect("valid policy");
    check_routes_with(&small, &[("/a/b/c", "/a/b/:rest")]);
}

#[test]
fn byte_cap_cuts_at_a_segment_boundary() {
    let policy = RoutePolicy::new(&RoutePolicyConfig {
        max_route_bytes: MIN_ROUTE_BYTES,
        ..RoutePolicyConfig::default()
    })
    .expect("valid policy");
    check_routes_with(
        &policy,
        &[
            (
                "/aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd",
                "/aaaaaaaaaa/bbbbbbbbbb/:rest",
            ),
            (
                "/aaaaaaaaaa/bbbbbbbbbb/ccccccccc",
                "/aaaaaaaaaa/bbbbbbbbbb/ccccccccc",
            ),
        ],
    );
    assert_eq!("/aaaaaaaaaa/bbbbbbbbbb/ccccccccc".len(), MIN_ROUTE_BYTES);
}

#[test]
fn very_long_hostile_url_gives_a_bounded_route() {
    let path = "%2e%2e/%00/%F0%9F%92%A9/x/".repeat(200);
    let scrubbed = RoutePolicy::default().scrub(&format!("https://e.com/{path}?q=1#f"));
    assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
    // Each `..` removes the `x` before it, so the `x` survives only at the end, beyond the cap.
    assert_eq!(
        scrubbed.route,
        "/:invalid/💩/:invalid/💩/:invalid/💩/:invalid/💩/:rest"
    );
}

#[test]
fn non_urls_are_read_as_paths() {
    let policy = RoutePolicy::default();
    for (input, route) in [
        ("", "/"),
        ("users/42?x", "/users/:id"),
        ("javascript:alert(1)", "/javascript:alert(1)"),
    ] {
        assert_eq!(policy.scrub(input).route, route, "{input}");
    }
    check_urls(&policy, &[("users/42?x", "users/42")]);
}

// --- per-site rules ---

#[test]
fn named_segment_rules_win_over_heuristics() {
    let policy = policy_with_rules(&["/products/:slug", "/products/:slug/reviews/:review"]);
    check_rules(
        &policy,
        &[
            ("/products/blue-shirt-123?ref=x", "/products/:slug", Rule),
            // A numeric slug is still the rule's `:slug`, not the heuristics' `:id`.
            ("/products/42", "/products/:slug", Rule),
            (
                "/products/42/reviews/7/",
                "/products/:slug/reviews/:review",
                Rule,
            ),
            // Literals are case sensitive and lengths must agree.
            ("/Products/42", "/Products/:id", Heuristic),
            ("/products/a/b", "/products/a/b", Heuristic),
        ],
    );
}

#[test]
fn glob_rules_match_one_segment_or_the_rest() {
    let policy = policy_with_rules(&["/static/*/img", "/docs/** => /docs", "/assets/**", "/"]);
    check_rules(
        &policy,
        &[
            ("/static/v2/img", "/static/*/img", Rule),
            ("/static/v2/img/x", "/static/v2/img/x", Heuristic),
            ("/docs", "/docs", Rule),
            ("/docs/guide/install/linux", "/docs", Rule),
            ("/assets/a/b", "/assets/**", Rule),
            ("/?x=1", "/", Rule),
        ],
    );
}

#[test]
fn rules_match_the_normalised_decoded_path() {
    let policy = policy_with_rules(&["/café/:item"]);
    check_rules(&policy, &[("/x/../caf%C3%A9//latte/", "/café/:item", Rule)]);
}

#[test]
fn regex_rules_expand_their_template() {
    let policy = policy_with_rules(&[
        r"regex:^/blog/(\d{4})/[^/]+$ => /blog/${1}/:post",
        r"regex:^/(?P<lang>[a-z]{2})/shop(/.*)?$ => /${lang}/shop",
    ]);
    check_rules(
        &policy,
        &[
            ("/blog/2024/hello-world", "/blog/2024/:post", Rule),
            ("/de/shop/cart/42", "/de/shop", Rule),
            ("/blog/2024/a/b", "/blog/:id/a/b", Heuristic),
        ],
    );
}

#[test]
fn regex_captures_are_sanitised() {
    let policy = policy_with_rules(&[r"regex:^/p/(.*)$ => /p/${1}"]);
    let scrubbed = policy.scrub("https://e.com/p/..x/%00/a%3Fb/..%2F/c/d/e/f/g/h/i/j");
    assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
    assert_eq!(scrubbed.route, "/p/..x/:invalid/a%3Fb/..%2F/c/d/e/:rest");
    // A capture can be a bare `..` even though the path it came from has no dot segments.
    let dots = policy_with_rules(&[r"regex:^/a/(\.+)x$ => /a/${1}"]);
    check_rules(&dots, &[("/a/..x", "/a/:invalid", Rule)]);
}

#[test]
fn first_matching_rule_wins() {
    let policy = policy_with_rules(&["/a/:first", "/a/*", "regex:^/a/.*$ => /a/regex"]);
    check_rules(&policy, &[("/a/b", "/a/:first", Rule)]);
}

#[test]
fn rule_errors_name_the_rule() {
    for (rule, expected) in [
        ("products/:slug", "a rule starts with `/` or `regex:`"),
        ("/docs/**/more", "`**` must be the last segment"),
        ("/img*/x", "`*` and `**` must be whole segments"),
        (
            "/a/:",
            "a `:name` segment needs a name of letters, digits and `_`",
        ),
        (
            "/a/:bad-name",
            "a `:name` segment needs a name of letters, digits and `_`",
        ),
        ("/a/../b", "dot segments never match a normalised path"),
        ("regex:^/a$", "a regex rule needs `=> /template`"),
        ("/a => a", "the template must start with `/`"),
        (
            "/a => /a?x",
            "the template must not contain `?`, `#`, `\\` or control characters",
        ),
        (
            "/a => /a\\b",
            "the template must not contain `?`, `#`, `\\` or control characters",
        ),
        (
            "/a => /../a",
            "the template must not contain `.` or `..` segments",
        ),
        (
            "/a => /1/2/3/4/5/6/7/8/9",
            "the template has more segments than `max_segments`",
        ),
    ] {
        let error = RoutePolicy::new(&RoutePolicyConfig {
            rules: vec!["/fine".to_owned(), rule.to_owned()],
            ..RoutePolicyConfig::default()
        })
        .expect_err(rule);
        assert_eq!(
            error.to_string(),
            format!("route rule `{rule}`: {expected}")
        );
    }
    let error = RoutePolicy::new(&RoutePolicyConfig {
        rules: vec!["regex:^/a(b => /a".to_owned()],
        ..RoutePolicyConfig::default()
    })
    .expect_err("bad regex");
    assert!(
        error
            .to_string()
            .starts_with("route rule `regex:^/a(b => /a`: invalid regex:"),
        "{error}"
    );
    let long_segment = format!("/a => /{}", "x".repeat(MAX_SEGMENT_BYTES + 1));
    let error = RoutePolicy::new(&RoutePolicyConfig {
        rules: vec![long_segment.clone()],
        ..RoutePolicyConfig::default()
    })
    .expect_err("long template segment");
    assert_eq!(
        error.to_string(),
        format!(
            "route rule `{long_segment}`: a template segment is longer than {MAX_SEGMENT_BYTES} bytes"
        )
    );
    let long_template = format!("/a => /{}", "x".repeat(DEFAULT_MAX_ROUTE_BYTES));
    assert!(
        RoutePolicy::new(&RoutePolicyConfig {
            rules: vec![long_template],
            ..RoutePolicyConfig::default()
        })
        .is_err()
    );
}

#[test]
fn limits_are_validated_by_key() {
    let error = RoutePolicy::new(&RoutePolicyConfig {
        max_segments: 0,
        ..RoutePolicyConfig::default()
    })
    .expect_err("zero segments");
    assert_eq!(
        error.to_string(),
        "`max_segments` must be between 1 and 64, got 0"
    );
    let error = RoutePolicy::new(&RoutePolicyConfig {
        max_route_bytes: 8,
        ..RoutePolicyConfig::default()
    })
    .expect_err("tiny cap");
    assert_eq!(
        error.to_string(),
        "`max_route_bytes` must be between 32 and 1024, got 8"
    );
}

#[test]
fn origin_labels_are_stable() {
    let labels: Vec<&str> = RouteOrigin::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(labels, ["rule", "heuristic"]);
}

// --- referrers ---

#[test]
fn referrers_reduce_to_their_origin() {
    for (referrer, origin) in [
        ("https://www.google.com/", "https://www.google.com"),
        (
            "https://www.google.com/search?q=secret#x",
            "https://www.google.com",
        ),
        (
            "HTTPS://User:Pw@WWW.Example.COM:443/path",
            "https://www.example.com",
        ),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:8080/a", "http://example.com:8080"),
        ("https://example.com:/a", "https://example.com"),
        ("https://[2001:DB8::1]:443/", "https://[2001:db8::1]"),
        ("https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443"),
        ("https://203.0.113.7/x", "https://203.0.113.7"),
        (
            "android-app://com.google.android.gm/",
            "android-app://com.google.android.gm",
        ),
        ("  https://e.com?x  ", "https://e.com"),
    ] {
        assert_eq!(referrer_origin(referrer), origin, "{referrer}");
    }
}

#[test]
fn unparseable_referrers_are_empty() {
    for referrer in [
        "",
        "   ",
        "www.google.com",
        "/relative/path",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://",
        "https:///path",
        "https://user@/x",
        "https://exa mple.com/",
        "https://bücher.de/",
        "https://e.com:99999/",
        "https://e.com:8o/",
        "https://[not-v6]/",
        "https://e.com%00.evil/",
        "1https://e.com/",
    ] {
        assert_eq!(referrer_origin(referrer), "", "{referrer:?}");
    }
}

// --- properties ---

fn hostile_path() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "([/\\\\.?#%@:+=_-]|%2[eEfF]|%00|%0[aAdD]|%[0-9a-fA-F]{2}|[a-zA-Z0-9]{1,30}|\\.\\.|é|\u{202E}|\u{0}){0,400}",
    )
    .expect("valid strategy regex")
}

proptest! {
    #[test]
    fn any_string_gives_a_safe_bounded_route(input in any::<String>()) {
        let policy = RoutePolicy::default();
        assert_route_is_safe(&policy.scrub(&input).route, DEFAULT_MAX_ROUTE_BYTES);
        let as_url = format!("https://e.com/{input}");
        let scrubbed = policy.scrub(&as_url);
        assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
        prop_assert!(!scrubbed.url.contains(['?', '#']));
    }

    #[test]
    fn hostile_paths_give_a_safe_bounded_route(
        path in hostile_path(),
        max_route_bytes in MIN_ROUTE_BYTES..=DEFAULT_MAX_ROUTE_BYTES,
        max_segments in 2usize..=12,
    ) {
        let policy = RoutePolicy::new(&RoutePolicyConfig {
            max_route_bytes,
            max_segments,
            rules: vec![r"regex:^/r/(.*)$ => /r/${1}".to_owned()],
            ..RoutePolicyConfig::default()
        })
        .expect("valid policy");
        for url in [format!("https://e.com/{path}"), format!("https://e.com/r/{path}")] {
            let scrubbed = policy.scrub(&url);
            assert_route_is_safe(&scrubbed.route, max_route_bytes);
            let segment_count = scrubbed.route.split('/').filter(|s| !s.is_empty()).count();
            prop_assert!(segment_count <= max_segments + 1, "{}", scrubbed.route);
            prop_assert!(!scrubbed.url.contains(['?', '#']));
        }
    }

    /// The endpoint is built in one buffer; this pins it to its definition: the path template
    /// alone, prefixed by the host of the call's origin when that origin is known and is not the
    /// page's.
    #[test]
    fn an_endpoint_is_the_path_template_behind_a_foreign_host(
        scheme in prop_oneof![Just("https"), Just("HTTP"), Just("ftp+x"), Just("1bad"), Just("")],
        host in prop_oneof![
            Just("api.example.com"), Just("API.Example.com:443"), Just("shop.example.com"),
            Just("api.example.com:8443"), Just("[::1]:80"), Just("bad host"), Just("u@h:x"),
        ],
        path in hostile_path(),
        page in prop_oneof![Just(""), Just("https://shop.example.com"), Just("https://api.example.com")],
        max_route_bytes in MIN_ROUTE_BYTES..=DEFAULT_MAX_ROUTE_BYTES,
    ) {
        let policy = RoutePolicy::new(&RoutePolicyConfig { max_route_bytes, ..RoutePolicyConfig::default() })
            .expect("valid policy");
        for url in [format!("{scheme}://{host}/{path}"), format!("{scheme}:{host}{path}"), path.clone()] {
            let template = join_capped(
                normalised_segments(UrlParts::split(&url).path).iter().map(|segment| classify_segment(segment)),
                policy.limits,
            );
            let origin = referrer_origin(&url);
            let expected = if origin.is_empty() || origin == page {
                template
            } else {
                format!("{}{template}", origin.split_once("://").map_or(origin.as_str(), |(_, host)| host))
            };
            prop_assert_eq!(policy.endpoint(&url, page), expected, "{}", url);
        }
    }

    #[test]
    fn referrer_origin_never_keeps_a_path_or_query(input in any::<String>()) {
        let origin = referrer_origin(&input);
        if !origin.is_empty() {
            let after_scheme = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            prop_assert!(!after_scheme.contains(['/', '?', '#', '@']), "{}", origin);
        }
    }
}

#[test]
fn endpoints_collapse_ids_and_name_the_host_only_when_the_call_leaves_the_page() {
    let policy = policy_with_rules(&["/products/:slug"]);
    let page = "https://shop.example.com";
    for (url, endpoint) in [
        ("/api/cart/12345", "/api/cart/:id"),
        ("https://shop.example.com/api/cart/12345", "/api/cart/:id"),
        (
            "https://API.example.com:443/v1/users/0b4f6a1e-3c2d-4e5f-8a9b-0c1d2e3f4a5b/orders",
            "api.example.com/v1/users/:uuid/orders",
        ),
        ("https://api.example.com:8443/v1", "api.example.com:8443/v1"),
        // Site rules name pages: an API path is grouped by the heuristics only.
        ("/products/42", "/products/:id"),
        ("relative/a1b2c3d4e5f6a7b8", "/relative/:hash"),
        // A host no browser sends is left out; the path still groups.
        ("https://bad host/x/7", "/x/:id"),
        ("", "/"),
    ] {
        assert_eq!(policy.endpoint(url, page), endpoint, "{url}");
    }
    let long = format!("https://shop.example.com/{}", "a/".repeat(500));
    assert_route_is_safe(&policy.endpoint(&long, page), DEFAULT_MAX_ROUTE_BYTES);
}
