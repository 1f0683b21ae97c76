use super::*;

#[test]
fn plain_removes_ansi_controls_and_line_breaks() {
    assert_eq!(
        plain("\u{1b}[31mred\u{1b}[0m\r\nnext\tline"),
        "red next line"
    );
    assert_eq!(plain("a\u{7}b\u{202e}c\u{0}"), "abc");
}

#[test]
fn clip_counts_characters_and_marks_the_cut() {
    assert_eq!(clip("abc", 3), "abc");
    assert_eq!(clip("abcdef", 4), "abc…");
    assert_eq!(clip("测试测试", 3), "测试…");
}

#[test]
fn lookalike_leaves_no_markup_character() {
    let out = lookalike("*b* _i_ `c` [l](http://e) <font> <@U1> @all # > ~ | & \\");
    for c in [
        '*', '_', '`', '[', ']', '<', '>', '@', '#', '~', '|', '&', '\\',
    ] {
        assert!(!out.contains(c), "{c} in {out}");
    }
}

#[test]
fn entities_follow_the_feishu_table() {
    assert_eq!(entities("<at id=all>"), "&#60;at id=all&#62;");
    assert_eq!(entities("**x**"), "&#42;&#42;x&#42;&#42;");
    assert_eq!(entities("a&b"), "a&#38;b");
    assert_eq!(entities("中文 ok"), "中文 ok");
}

#[test]
fn link_urls_are_http_and_cannot_break_out() {
    assert_eq!(link_url("javascript:alert(1)"), None);
    assert_eq!(link_url("https://x/a b"), None);
    assert_eq!(
        link_url("https://x/a)(b"),
        Some("https://x/a%29%28b".into())
    );
    assert_eq!(link_url("HTTPS://X/y"), Some("HTTPS://X/y".into()));
}

#[test]
fn mentions_are_validated() {
    assert_eq!(mention("@alice").as_deref(), Ok("alice"));
    assert_eq!(mention(" 13800000000 ").as_deref(), Ok("13800000000"));
    assert!(mention("@all").is_err());
    assert!(mention("").is_err());
    assert!(mention("a b").is_err());
    assert!(mention("<at id=all>").is_err());
    assert!(mention(&"x".repeat(65)).is_err());
}

#[test]
fn urls_are_checked_without_quoting_them() {
    assert!(check_url("https://oapi.dingtalk.com/robot/send?access_token=t").is_ok());
    let err = check_url("ftp://host/x?access_token=SECRETTOKEN").unwrap_err();
    assert!(!err.contains("SECRETTOKEN"), "{err}");
    assert!(check_url("not a url SECRETTOKEN")
        .unwrap_err()
        .contains("not a URL"));
}

#[test]
fn shown_urls_hide_query_and_path_tokens() {
    assert_eq!(
        shown_url("https://open.feishu.cn/open-apis/bot/v2/hook/abc-123?x=1"),
        "https://open.feishu.cn/open-apis/bot/v2/hook/***?x=1"
    );
    let shown = shown_url("https://oapi.dingtalk.com/robot/send?access_token=tok123456");
    assert!(!shown.contains("tok123456"), "{shown}");
    let shown = shown_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6");
    assert!(!shown.contains("693a91f6"), "{shown}");
}

#[test]
fn the_scrubber_removes_url_tokens_and_the_secret() {
    let secret = Secret::new("SECsigning");
    let scrub = Scrubber::new(
        "https://h/open-apis/bot/v2/hook/0123456789abcdef0123?access_token=tok123456&sign=abc%2Bdef%3D",
        Some(&secret),
    );
    let text = scrub.clean("tok123456 0123456789abcdef0123 SECsigning abc%2Bdef%3D abc+def=");
    assert_eq!(text, "*** *** *** *** ***");
}

#[test]
fn hmac_matches_rfc_4231_case_2() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    let expected = base64::engine::general_purpose::STANDARD.encode([
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75,
        0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec,
        0x38, 0x43,
    ]);
    assert_eq!(
        hmac_sha256_base64(b"Jefe", b"what do ya want for nothing?"),
        expected
    );
}

#[test]
fn cut_to_respects_char_boundaries() {
    let s = cut_to("测试测试".to_owned(), 8, bytes);
    assert!(s.len() <= 8 && s.ends_with('…'), "{s}");
}
