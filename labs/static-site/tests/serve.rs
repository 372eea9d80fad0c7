//! The static server's HTTP behaviour, through `Site::respond` (no sockets needed).

use http::{Request, StatusCode};
use static_site::Site;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn request(site: &Site, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = site.respond(&builder.body(()).unwrap());
    let (parts, body) = response.into_parts();
    Answer { status: parts.status, headers: parts.headers, body: body.collect_bytes().await.unwrap().to_vec() }
}

async fn get(site: &Site, path: &str) -> Answer {
    request(site, "GET", path, &[]).await
}

/// A small site: index, stylesheet, a subdirectory with an index, a 404 page, an SVG.
fn fixture() -> (tempfile::TempDir, Site) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("projects")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(
        root.join("index.html"),
        format!("<!doctype html><title>Home</title>{}", "<p>hello</p>".repeat(100)),
    )
    .unwrap();
    std::fs::write(root.join("style.css"), "body { color: black; }\n".repeat(50)).unwrap();
    std::fs::write(root.join("projects/index.html"), "<title>Projects</title>").unwrap();
    std::fs::write(root.join("404.html"), "<title>Lost</title><p>custom 404</p>").unwrap();
    std::fs::write(root.join("logo.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    std::fs::write(root.join("data.bin"), (0..=255u8).collect::<Vec<u8>>()).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the root").unwrap();
    let site = Site::open_revalidating(&root, Duration::ZERO).unwrap();
    (dir, site)
}

#[tokio::test]
async fn serves_files_with_types_and_validators() {
    let (_dir, site) = fixture();
    let check = |answer: &Answer, content_type: &str| {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("content-type"), content_type);
        assert_eq!(answer.header("content-length"), answer.body.len().to_string());
        assert!(answer.header("etag").starts_with('"'));
        assert!(httpdate::parse_http_date(answer.header("last-modified")).is_ok());
        assert_eq!(answer.header("accept-ranges"), "bytes");
    };
    check(&get(&site, "/").await, "text/html; charset=utf-8");
    check(&get(&site, "/index.html").await, "text/html; charset=utf-8");
    check(&get(&site, "/style.css").await, "text/css; charset=utf-8");
    check(&get(&site, "/logo.svg").await, "image/svg+xml");
    check(&get(&site, "/data.bin").await, "application/octet-stream");
    check(&get(&site, "/projects/").await, "text/html; charset=utf-8");
    assert!(get(&site, "/").await.text().contains("<title>Home</title>"));
    // Assets are kept an hour; pages are revalidated every time, so an edit shows at once.
    assert_eq!(get(&site, "/style.css").await.header("cache-control"), "public, max-age=3600");
    assert_eq!(get(&site, "/logo.svg").await.header("cache-control"), "public, max-age=3600");
    assert_eq!(get(&site, "/").await.header("cache-control"), "no-cache");
}

#[tokio::test]
async fn directories_redirect_to_their_slash_and_need_an_index() {
    let (_dir, site) = fixture();
    let answer = get(&site, "/projects").await;
    assert_eq!((answer.status, answer.header("location")), (StatusCode::MOVED_PERMANENTLY, "/projects/"));
    let answer = get(&site, "/projects?tab=2").await;
    assert_eq!(answer.header("location"), "/projects/?tab=2");
    assert_eq!(get(&site, "/empty/").await.status, StatusCode::NOT_FOUND, "no directory listings");
    assert_eq!(get(&site, "/style.css/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn missing_files_get_the_custom_404_or_a_builtin_one() {
    let (dir, site) = fixture();
    let answer = get(&site, "/nope.html").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    assert!(answer.text().contains("custom 404"));
    std::fs::remove_file(dir.path().join("site/404.html")).unwrap();
    let answer = get(&site, "/nope.html").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.text().contains("404 Not Found"));
}

#[tokio::test]
async fn paths_that_leave_the_root_are_refused() {
    let (dir, site) = fixture();
    std::os::unix::fs::symlink("/etc", dir.path().join("site/etc-link")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("site/secret-link.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("site/style.css"), dir.path().join("site/alias.css")).unwrap();
    for path in [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/projects/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/index.html%00.css",
        "/.hidden",
        "/etc-link/passwd",
        "/secret-link.txt",
    ] {
        let answer = get(&site, path).await;
        assert!(
            answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::NOT_FOUND,
            "{path} answered {}",
            answer.status
        );
        assert!(!answer.text().contains("outside the root") && !answer.text().contains("root:x:0"), "{path} leaked");
    }
    assert_eq!(get(&site, "/alias.css").await.status, StatusCode::OK, "a link that stays inside is fine");
}

#[tokio::test]
async fn conditional_requests_answer_304() {
    let (_dir, site) = fixture();
    let first = get(&site, "/style.css").await;
    let etag = first.header("etag").to_string();
    let last_modified = first.header("last-modified").to_string();
    let check = |headers: Vec<(&'static str, String)>, expected: StatusCode| {
        let site = &site;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = request(site, "GET", "/style.css", &headers).await;
            assert_eq!(answer.status, expected, "{headers:?}");
            if expected == StatusCode::NOT_MODIFIED {
                assert!(answer.body.is_empty());
            }
        }
    };
    check(vec![("if-none-match", etag.clone())], StatusCode::NOT_MODIFIED).await;
    check(vec![("if-none-match", format!("W/{etag}"))], StatusCode::NOT_MODIFIED).await;
    check(vec![("if-none-match", format!("\"other\", {etag}"))], StatusCode::NOT_MODIFIED).await;
    check(vec![("if-none-match", "*".into())], StatusCode::NOT_MODIFIED).await;
    check(vec![("if-none-match", "\"other\"".into())], StatusCode::OK).await;
    check(vec![("if-modified-since", last_modified.clone())], StatusCode::NOT_MODIFIED).await;
    check(vec![("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT".into())], StatusCode::OK).await;
    // If-None-Match wins over If-Modified-Since.
    check(vec![("if-none-match", "\"other\"".into()), ("if-modified-since", last_modified)], StatusCode::OK).await;
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let (_dir, site) = fixture();
    let full = get(&site, "/index.html").await;
    let head = request(&site, "HEAD", "/index.html", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), full.body.len().to_string());
    assert_eq!(head.header("etag"), full.header("etag"));
}

#[tokio::test]
async fn byte_ranges() {
    let (_dir, site) = fixture();
    let site = &site;
    let range = |value: &'static str| async move { request(site, "GET", "/data.bin", &[("range", value)]).await };
    let answer = range("bytes=10-19").await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(answer.header("content-range"), "bytes 10-19/256");
    assert_eq!(answer.body, (10..20u8).collect::<Vec<_>>());
    let answer = range("bytes=-6").await;
    assert_eq!((answer.header("content-range"), answer.body.len()), ("bytes 250-255/256", 6));
    let answer = range("bytes=300-").await;
    assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(answer.header("content-range"), "bytes */256");
    assert_eq!(range("bytes=0-1,5-6").await.status, StatusCode::OK, "several ranges: the whole file");
    let stale = request(site, "GET", "/data.bin", &[("range", "bytes=0-9"), ("if-range", "\"old\"")]).await;
    assert_eq!((stale.status, stale.body.len()), (StatusCode::OK, 256), "a stale If-Range gets the whole file");
}

#[tokio::test]
async fn gzip_when_accepted_and_worth_it() {
    let (_dir, site) = fixture();
    let plain = get(&site, "/style.css").await;
    let zipped = request(&site, "GET", "/style.css", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(zipped.header("content-encoding"), "gzip");
    assert_eq!(zipped.header("vary"), "accept-encoding");
    assert_ne!(zipped.header("etag"), plain.header("etag"), "each representation has its own tag");
    assert!(zipped.body.len() < plain.body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.body.as_slice()).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain.body);
    let refused = request(&site, "GET", "/style.css", &[("accept-encoding", "gzip;q=0")]).await;
    assert_eq!(refused.header("content-encoding"), "");
    let ranged = request(&site, "GET", "/style.css", &[("accept-encoding", "gzip"), ("range", "bytes=0-3")]).await;
    assert_eq!(
        (ranged.status, ranged.header("content-encoding"), ranged.text().as_str()),
        (StatusCode::PARTIAL_CONTENT, "", "body")
    );
    let binary = request(&site, "GET", "/data.bin", &[("accept-encoding", "gzip")]).await;
    assert_eq!(binary.header("content-encoding"), "", "binary files are not compressed");
}

#[tokio::test]
async fn only_get_and_head() {
    let (_dir, site) = fixture();
    let answer = request(&site, "POST", "/", &[]).await;
    assert_eq!((answer.status, answer.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD"));
}

#[tokio::test]
async fn edited_files_are_served_fresh() {
    let (dir, site) = fixture();
    let before = get(&site, "/projects/").await;
    std::fs::write(dir.path().join("site/projects/index.html"), "<title>Projects, edited and longer</title>").unwrap();
    let after = get(&site, "/projects/").await;
    assert!(after.text().contains("edited"));
    assert_ne!(before.header("etag"), after.header("etag"));
    std::fs::remove_file(dir.path().join("site/projects/index.html")).unwrap();
    assert_eq!(get(&site, "/projects/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn large_files_are_streamed_whole_and_in_ranges() {
    let (dir, site) = fixture();
    let size = static_site::files::MAX_CACHED_FILE as usize + 1234;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("site/big.bin"), &data).unwrap();
    let answer = get(&site, "/big.bin").await;
    assert_eq!(answer.header("content-length"), size.to_string());
    assert!(answer.body == data, "streamed body equals the file");
    let answer = request(&site, "GET", "/big.bin", &[("range", "bytes=5000000-5000009")]).await;
    assert_eq!(answer.body, data[5_000_000..5_000_010].to_vec());
}

#[test]
fn a_missing_root_is_one_line_and_exit_2() {
    let check = |root: &Path, expected: &str| {
        let output = assert_cmd::cargo::cargo_bin_cmd!("static-site")
            .arg("--root")
            .arg(root)
            .arg("--port")
            .arg("0")
            .output()
            .unwrap();
        testkit::assert_one_line_exit_2(&output, expected);
    };
    let dir = tempfile::tempdir().unwrap();
    check(&dir.path().join("nope"), "does not exist; pass --root DIR");
    std::fs::write(dir.path().join("file"), "x").unwrap();
    check(&dir.path().join("file"), "is not a directory");
}
