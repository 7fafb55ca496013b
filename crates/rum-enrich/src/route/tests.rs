use super::*;
use proptest::prelude::*;

fn policy_with_rules(rules: &[&str]) -> RoutePolicy {
    RoutePolicy::new(&RoutePolicyConfig {
        rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
        ..RoutePolicyConfig::default()
    })
    .expect("valid test policy")
}

fn route(url: &str) -> String {
    RoutePolicy::default().scrub(url).route
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
    let policy = RoutePolicy::default();
    assert_eq!(
        policy
            .scrub("HTTPS://user:pa%40ss@Shop.Example.COM:443/A/b")
            .url,
        "https://shop.example.com/A/b"
    );
    assert_eq!(
        policy.scrub("http://example.com:80?x=1").url,
        "http://example.com/"
    );
    assert_eq!(
        policy.scrub("http://example.com:8080/").url,
        "http://example.com:8080/"
    );
    assert_eq!(
        policy.scrub("https://[2001:DB8::1]:8443/x").url,
        "https://[2001:db8::1]:8443/x"
    );
}

// --- heuristics ---

#[test]
fn numeric_ids_become_id() {
    assert_eq!(
        route("https://e.com/users/123/orders/4567"),
        "/users/:id/orders/:id"
    );
    assert_eq!(route("https://e.com/"), "/");
    assert_eq!(route("https://e.com"), "/");
}

#[test]
fn uuids_become_uuid() {
    assert_eq!(
        route("https://e.com/o/3F2504E0-4F89-11D3-9A0C-0305E82C3301/items"),
        "/o/:uuid/items"
    );
    assert_eq!(
        route("https://e.com/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
        "/o/:uuid"
    );
}

#[test]
fn hex_hashes_become_hash() {
    assert_eq!(
        route("https://e.com/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        "/commit/:hash"
    );
    assert_eq!(route("https://e.com/c/3f2a9c1d"), "/c/:hash");
    assert_eq!(route("https://e.com/c/deadbeefdeadbeef"), "/c/:hash");
    // Short, or all letters: words, not hashes.
    assert_eq!(route("https://e.com/c/deadbeef"), "/c/deadbeef");
    assert_eq!(route("https://e.com/c/facade"), "/c/facade");
    assert_eq!(route("https://e.com/c/abc123"), "/c/abc123");
}

#[test]
fn emails_become_email() {
    assert_eq!(
        route("https://e.com/users/jane.doe@example.com/profile"),
        "/users/:email/profile"
    );
    assert_eq!(
        route("https://e.com/users/jane.doe%40example.com"),
        "/users/:email"
    );
    assert_eq!(route("https://e.com/@jane"), "/@jane");
}

#[test]
fn random_tokens_become_token_but_slugs_stay() {
    assert_eq!(
        route("https://e.com/reset/aZ3kP9qLm2XvB7nR4tYw8"),
        "/reset/:token"
    );
    assert_eq!(
        route("https://e.com/s/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjEyM30.abc_DEF-123"),
        "/s/:token"
    );
    assert_eq!(route("https://e.com/i/k3j4h5g6f7d8s9a0q1w2e3"), "/i/:token");
    assert_eq!(
        route("https://e.com/blog/how-we-cut-lcp-in-half-2024"),
        "/blog/how-we-cut-lcp-in-half-2024"
    );
    assert_eq!(
        route("https://e.com/Products/BlueShirt"),
        "/Products/BlueShirt"
    );
}

#[test]
fn ids_keep_a_short_extension() {
    assert_eq!(
        route("https://e.com/article/123456.html"),
        "/article/:id.html"
    );
    assert_eq!(route("https://e.com/a/3f2a9c1d8e7b6a5f.js"), "/a/:hash.js");
    assert_eq!(route("https://e.com/docs/intro.html"), "/docs/intro.html");
}

#[test]
fn trailing_and_repeated_slashes_do_not_split_routes() {
    assert_eq!(route("https://e.com/about/"), "/about");
    assert_eq!(route("https://e.com//about//team/"), "/about/team");
    assert_eq!(route("https://e.com/about"), "/about");
}

#[test]
fn paths_keep_their_case_and_decoded_unicode() {
    assert_eq!(route("https://e.com/Docs/README"), "/Docs/README");
    assert_eq!(route("https://e.com/caf%C3%A9/men%C3%BC"), "/café/menü");
    assert_eq!(route("https://e.com/café"), "/café");
}

// --- hostile paths ---

#[test]
fn traversal_never_climbs_above_the_root() {
    assert_eq!(route("https://e.com/a/b/../c"), "/a/c");
    assert_eq!(route("https://e.com/../../etc/passwd"), "/etc/passwd");
    assert_eq!(route("https://e.com/a/./b/."), "/a/b");
    assert_eq!(route("https://e.com/a/%2e%2e/%2E%2E/%2e/x"), "/x");
    assert_eq!(route("https://e.com/a/.%2e/b"), "/b");
    assert_eq!(route("https://e.com/a\\..\\b"), "/b");
    // One decoding pass only: `%252e%252e` is the literal text `%2e%2e`.
    assert_eq!(route("https://e.com/a/%252e%252e"), "/a/%2e%2e");
}

#[test]
fn encoded_separators_stay_inside_their_segment() {
    assert_eq!(route("https://e.com/files/a%2Fb"), "/files/a%2Fb");
    assert_eq!(
        route("https://e.com/files/..%2F..%2Fetc"),
        "/files/..%2F..%2Fetc"
    );
    assert_eq!(route("https://e.com/q/a%3Fb%23c%5Cd"), "/q/a%3Fb%23c%5Cd");
}

#[test]
fn control_invisible_and_invalid_bytes_are_replaced() {
    assert_eq!(route("https://e.com/a%00b/c"), "/:invalid/c");
    assert_eq!(route("https://e.com/a%0d%0aSet-Cookie"), "/:invalid");
    assert_eq!(route("https://e.com/%FF%FE"), "/:invalid");
    assert_eq!(route("https://e.com/admin%E2%80%AEnimda"), "/:invalid");
    assert_eq!(route("https://e.com/x%zz%"), "/x%zz%");
}

#[test]
fn long_segments_become_long() {
    let title = "a-very-long-free-text-title-".repeat(5);
    assert_eq!(
        route(&format!("https://e.com/search/{title}")),
        "/search/:long"
    );
}

#[test]
fn deep_paths_collapse_into_rest() {
    assert_eq!(
        route("https://e.com/a/b/c/d/e/f/g/h/i/j/k"),
        "/a/b/c/d/e/f/g/h/:rest"
    );
    assert_eq!(route("https://e.com/a/b/c/d/e/f/g/h"), "/a/b/c/d/e/f/g/h");
    let small = RoutePolicy::new(&RoutePolicyConfig {
        max_segments: 2,
        ..RoutePolicyConfig::default()
    })
    .expect("valid policy");
    assert_eq!(small.scrub("https://e.com/a/b/c").route, "/a/b/:rest");
}

#[test]
fn byte_cap_cuts_at_a_segment_boundary() {
    let policy = RoutePolicy::new(&RoutePolicyConfig {
        max_route_bytes: MIN_ROUTE_BYTES,
        ..RoutePolicyConfig::default()
    })
    .expect("valid policy");
    let scrubbed = policy.scrub("https://e.com/aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd");
    assert_eq!(scrubbed.route, "/aaaaaaaaaa/bbbbbbbbbb/:rest");
    let exact = policy.scrub("https://e.com/aaaaaaaaaa/bbbbbbbbbb/ccccccccc");
    assert_eq!(exact.route, "/aaaaaaaaaa/bbbbbbbbbb/ccccccccc");
    assert_eq!(exact.route.len(), MIN_ROUTE_BYTES);
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
    assert_eq!(policy.scrub("").route, "/");
    assert_eq!(policy.scrub("users/42?x").route, "/users/:id");
    assert_eq!(policy.scrub("users/42?x").url, "users/42");
    assert_eq!(
        policy.scrub("javascript:alert(1)").route,
        "/javascript:alert(1)"
    );
}

// --- per-site rules ---

#[test]
fn named_segment_rules_win_over_heuristics() {
    let policy = policy_with_rules(&["/products/:slug", "/products/:slug/reviews/:review"]);
    let scrubbed = policy.scrub("https://e.com/products/blue-shirt-123?ref=x");
    assert_eq!(scrubbed.route, "/products/:slug");
    assert_eq!(scrubbed.route_origin, RouteOrigin::Rule);
    // A numeric slug is still the rule's `:slug`, not the heuristics' `:id`.
    assert_eq!(
        policy.scrub("https://e.com/products/42").route,
        "/products/:slug"
    );
    assert_eq!(
        policy.scrub("https://e.com/products/42/reviews/7/").route,
        "/products/:slug/reviews/:review"
    );
    // Literals are case sensitive and lengths must agree.
    let unmatched = policy.scrub("https://e.com/Products/42");
    assert_eq!(unmatched.route, "/Products/:id");
    assert_eq!(unmatched.route_origin, RouteOrigin::Heuristic);
    assert_eq!(
        policy.scrub("https://e.com/products/a/b").route,
        "/products/a/b"
    );
}

#[test]
fn glob_rules_match_one_segment_or_the_rest() {
    let policy = policy_with_rules(&["/static/*/img", "/docs/** => /docs", "/assets/**", "/"]);
    assert_eq!(
        policy.scrub("https://e.com/static/v2/img").route,
        "/static/*/img"
    );
    assert_eq!(
        policy.scrub("https://e.com/static/v2/img/x").route,
        "/static/v2/img/x"
    );
    assert_eq!(policy.scrub("https://e.com/docs").route, "/docs");
    assert_eq!(
        policy.scrub("https://e.com/docs/guide/install/linux").route,
        "/docs"
    );
    assert_eq!(policy.scrub("https://e.com/assets/a/b").route, "/assets/**");
    let root = policy.scrub("https://e.com/?x=1");
    assert_eq!(
        (root.route.as_str(), root.route_origin),
        ("/", RouteOrigin::Rule)
    );
}

#[test]
fn rules_match_the_normalised_decoded_path() {
    let policy = policy_with_rules(&["/café/:item"]);
    assert_eq!(
        policy.scrub("https://e.com/x/../caf%C3%A9//latte/").route,
        "/café/:item"
    );
}

#[test]
fn regex_rules_expand_their_template() {
    let policy = policy_with_rules(&[
        r"regex:^/blog/(\d{4})/[^/]+$ => /blog/${1}/:post",
        r"regex:^/(?P<lang>[a-z]{2})/shop(/.*)?$ => /${lang}/shop",
    ]);
    let scrubbed = policy.scrub("https://e.com/blog/2024/hello-world");
    assert_eq!(scrubbed.route, "/blog/2024/:post");
    assert_eq!(scrubbed.route_origin, RouteOrigin::Rule);
    assert_eq!(
        policy.scrub("https://e.com/de/shop/cart/42").route,
        "/de/shop"
    );
    assert_eq!(
        policy.scrub("https://e.com/blog/2024/a/b").route,
        "/blog/:id/a/b"
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
    assert_eq!(dots.scrub("https://e.com/a/..x").route, "/a/:invalid");
}

#[test]
fn first_matching_rule_wins() {
    let policy = policy_with_rules(&["/a/:first", "/a/*", "regex:^/a/.*$ => /a/regex"]);
    assert_eq!(policy.scrub("https://e.com/a/b").route, "/a/:first");
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

    #[test]
    fn referrer_origin_never_keeps_a_path_or_query(input in any::<String>()) {
        let origin = referrer_origin(&input);
        if !origin.is_empty() {
            let after_scheme = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            prop_assert!(!after_scheme.contains(['/', '?', '#', '@']), "{}", origin);
        }
    }
}
