//! Reading a student's nginx server block: what `--up` needs to run it in the official nginx
//! image - the port the server listens on (published on the site's port) and its `root` (where the
//! site's folder is mounted, read-only). nginx's own grammar: directives end in `;`, blocks are
//! `{ ... }`, `#` starts a comment, arguments may be quoted.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

/// One directive: `name args... ;` or `name args... { block }`, with the line it starts on and
/// where it and its arguments are in the text (byte ranges), so a tool can rewrite one argument
/// and leave every other byte - comments, regular expressions, line numbers - as the student wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Option<Vec<Directive>>,
    pub line: usize,
    /// From its name to its `;` (or its block's `}`), inclusive.
    pub span: Range<usize>,
    /// Each argument as written (quotes included).
    pub arg_spans: Vec<Range<usize>>,
    /// Just after its block's `{`.
    pub body: Option<usize>,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String, usize, Range<usize>),
    Semicolon(usize, usize),
    Open(usize, usize),
    Close(usize, usize),
}

/// The text's characters with their byte offsets.
struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    end: usize,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn next(&mut self) -> Option<char> {
        self.chars.next().map(|(_, c)| c)
    }

    /// The offset of the next character (the text's length at its end).
    fn offset(&mut self) -> usize {
        self.chars.peek().map_or(self.end, |&(i, _)| i)
    }
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = Cursor { chars: text.char_indices().peekable(), end: text.len() };
    let mut line = 1;
    while let Some(c) = chars.peek() {
        let at = chars.offset();
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while chars.peek().is_some_and(|c| c != '\n') {
                    chars.next();
                }
            }
            ';' => {
                out.push(Token::Semicolon(line, at));
                chars.next();
            }
            '{' => {
                out.push(Token::Open(line, at));
                chars.next();
            }
            '}' => {
                out.push(Token::Close(line, at));
                chars.next();
            }
            '"' | '\'' => {
                let start = line;
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("line {start}: a quote that is never closed")),
                        Some(q) if q == c => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            word.push(other);
                        }
                    }
                }
                out.push(Token::Word(word, start, at..chars.offset()));
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '{' | '}') {
                        break;
                    }
                    // `${name}` is one word even though it holds braces.
                    if c == '$' {
                        word.push(c);
                        chars.next();
                        if chars.peek() == Some('{') {
                            while let Some(c) = chars.next() {
                                word.push(c);
                                if c == '}' {
                                    break;
                                }
                            }
                        }
                        continue;
                    }
                    if c == '\\' {
                        chars.next();
                        word.extend(chars.next());
                        continue;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word, line, at..chars.offset()));
            }
        }
    }
    Ok(out)
}

/// Parses a configuration file's text into its directives.
pub fn parse(text: &str) -> Result<Vec<Directive>, String> {
    let tokens = tokens(text)?;
    let mut position = 0;
    let directives = block(&tokens, &mut position, None)?;
    Ok(directives)
}

fn block(tokens: &[Token], position: &mut usize, opened: Option<usize>) -> Result<Vec<Directive>, String> {
    let mut directives = Vec::new();
    loop {
        let (name, line, start) = match tokens.get(*position) {
            None => {
                return match opened {
                    Some(line) => Err(format!("the block opened on line {line} is never closed (a missing `}}`)")),
                    None => Ok(directives),
                }
            }
            Some(Token::Close(line, _)) => {
                *position += 1;
                return match opened {
                    Some(_) => Ok(directives),
                    None => Err(format!("line {line}: a `}}` that closes nothing")),
                };
            }
            Some(Token::Word(name, line, span)) => (name.clone(), *line, span.start),
            Some(Token::Semicolon(line, _)) | Some(Token::Open(line, _)) => {
                return Err(format!("line {line}: a directive must start with its name"))
            }
        };
        *position += 1;
        let (mut args, mut arg_spans) = (Vec::new(), Vec::new());
        loop {
            match tokens.get(*position) {
                Some(Token::Word(word, _, span)) => {
                    args.push(word.clone());
                    arg_spans.push(span.clone());
                    *position += 1;
                }
                Some(Token::Semicolon(_, at)) => {
                    *position += 1;
                    let span = start..at + 1;
                    directives.push(Directive { name, args, block: None, line, span, arg_spans, body: None });
                    break;
                }
                Some(Token::Open(open, at)) => {
                    let (open, body) = (*open, at + 1);
                    *position += 1;
                    let inner = block(tokens, position, Some(open))?;
                    // The `}` that closed it is the token before the position now.
                    let end = match tokens.get(*position - 1) {
                        Some(Token::Close(_, at)) => at + 1,
                        _ => body,
                    };
                    directives.push(Directive {
                        name,
                        args,
                        block: Some(inner),
                        line,
                        span: start..end,
                        arg_spans,
                        body: Some(body),
                    });
                    break;
                }
                Some(Token::Close(..)) | None => {
                    return Err(format!("line {line}: `{name}` does not end with `;` (or open a block with `{{`)"))
                }
            }
        }
    }
}

/// Where nginx looks for a relative `root` (its prefix; Debian's and the official image's).
pub const PREFIX: &str = "/usr/share/nginx";

/// What `--up` needs to run a server block in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The port the server listens on (80 when it has no `listen`, as nginx does as root).
    pub port: u16,
    /// The folder it serves: its `root`, or `location /`'s, or nginx's default (`html` in the prefix).
    pub root: PathBuf,
}

/// Folders a site cannot be mounted over: the container's system, and nginx's own configuration.
const SYSTEM: [&str; 13] =
    ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr", "/var"];

/// Reads the site's server block (the first `server`, at the top or in `http`) from a file's text.
pub fn site(text: &str) -> Result<Site, String> {
    let directives = parse(text)?;
    let mut servers = directives.iter().filter(|d| d.name == "server").collect::<Vec<_>>();
    for http in directives.iter().filter(|d| d.name == "http") {
        servers.extend(http.block.iter().flatten().filter(|d| d.name == "server"));
    }
    let Some(server) = servers.first() else {
        return Err("no `server { ... }` block".into());
    };
    let inner = server.block.as_deref().unwrap_or_default();
    let port = match inner.iter().find(|d| d.name == "listen") {
        None => 80,
        Some(listen) => listen_port(listen)?,
    };
    let site_location =
        || inner.iter().filter(|d| d.name == "location" && d.args == ["/"]).flat_map(|d| d.block.iter().flatten());
    let location_root = site_location().find(|d| d.name == "root");
    // `location / { alias /srv/site/; }` serves every path from the alias, whatever the server's root.
    let location_alias = site_location().find(|d| d.name == "alias");
    let root = match location_alias.or(inner.iter().find(|d| d.name == "root")).or(location_root) {
        None => PathBuf::from(PREFIX).join("html"),
        Some(root) => {
            let what = &root.name;
            let [path] = root.args.as_slice() else {
                return Err(format!(
                    "line {}: `{what} {}`: {what} takes one path (a missing `;`?)",
                    root.line,
                    root.args.join(" ")
                ));
            };
            if path.contains('$') {
                return Err(format!(
                    "line {}: `{what} {path}` uses a variable; --up mounts your site at a plain path",
                    root.line
                ));
            }
            normalize(&Path::new(PREFIX).join(path))
        }
    };
    let shown = root.display().to_string();
    if SYSTEM.contains(&shown.as_str()) || root.starts_with("/etc/nginx") || root.starts_with("/proc") {
        return Err(format!(
            "`root {shown}` is a system folder: serve your site from a folder of its own, such as /var/www/portfolio"
        ));
    }
    Ok(Site { port, root })
}

/// The block as the machine's own nginx runs it, with no container (`site-nginx host`, for a
/// course platform without a Docker engine): what the container does by publishing a port and
/// mounting the site is done by rewriting two things. The first `listen` names `listen` (the
/// others go: a container publishes one port), and each `root` of the site (the server's and
/// `location /`'s; one under the site's root keeps its place in it) names `site`; a block with
/// neither gets them after its `{`. Every other byte is the student's, and every directive stays
/// on its line, so nginx's messages name the student's lines.
pub fn for_host(text: &str, site: &Path, listen: &str) -> Result<String, String> {
    let found = self::site(text)?;
    let directives = parse(text)?;
    let mut servers: Vec<&Directive> = directives.iter().filter(|d| d.name == "server").collect();
    for http in directives.iter().filter(|d| d.name == "http") {
        servers.extend(http.block.iter().flatten().filter(|d| d.name == "server"));
    }
    let server = servers.first().ok_or("no `server { ... }` block")?;
    let inner = server.block.as_deref().unwrap_or_default();
    let body = server.body.ok_or("the server has no block")?;
    let quote = |path: &Path| format!("\"{}\"", path.display().to_string().replace('\\', "\\\\").replace('"', "\\\""));
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut inserted = String::new();
    let listens: Vec<&Directive> = inner.iter().filter(|d| d.name == "listen").collect();
    match listens.split_first() {
        Some((first, others)) => {
            edits.push((first.arg_spans[0].clone(), listen.to_string()));
            for other in others {
                let blank: String = text[other.span.clone()].chars().map(|c| if c == '\n' { c } else { ' ' }).collect();
                edits.push((other.span.clone(), blank));
            }
        }
        None => inserted.push_str(&format!(" listen {listen};")),
    }
    let mut rooted = false;
    let mut roots = |list: &[Directive], edits: &mut Vec<(Range<usize>, String)>, site_root: bool| {
        for root in list.iter().filter(|d| d.name == "root" || (site_root && d.name == "alias")) {
            let path = normalize(&Path::new(PREFIX).join(&root.args[0]));
            let target = match path.strip_prefix(&found.root) {
                Ok(rest) if rest.as_os_str().is_empty() => site.to_path_buf(),
                Ok(rest) => site.join(rest),
                Err(_) if site_root => site.to_path_buf(),
                Err(_) => continue,
            };
            // An alias keeps its trailing slash: nginx appends the rest of the path to it as written.
            let slash = if root.name == "alias" && root.args[0].ends_with('/') { "/" } else { "" };
            let target = format!("{}{slash}", target.display());
            edits.push((root.arg_spans[0].clone(), quote(Path::new(&target))));
            rooted |= site_root;
        }
    };
    roots(inner, &mut edits, true);
    for location in inner.iter().filter(|d| d.name == "location") {
        let site_root = location.args == ["/"];
        roots(location.block.as_deref().unwrap_or_default(), &mut edits, site_root);
    }
    if !rooted {
        inserted.push_str(&format!(" root {};", quote(site)));
    }
    if !inserted.is_empty() {
        edits.push((body..body, inserted));
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = text.to_string();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    Ok(out)
}

/// Where nginx looks for a relative path in a TLS directive: its configuration prefix.
pub const CONF_PREFIX: &str = "/etc/nginx";

/// Directives that name a file nginx must read (lab 2's certificate and key, and their kin).
const FILE_DIRECTIVES: [&str; 6] = [
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_trusted_certificate",
    "ssl_client_certificate",
    "ssl_dhparam",
    "ssl_password_file",
];

/// What `--up` needs to run a front door (lab 2's reverse proxy) in a container: the ports its
/// servers listen on, plain and with TLS, and the files its TLS directives name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Front {
    /// Ports of `listen` without `ssl`, in the order they appear.
    pub plain: Vec<u16>,
    /// Ports of `listen ... ssl`.
    pub tls: Vec<u16>,
    /// Files named by TLS directives, as absolute paths in the container.
    pub files: Vec<NamedFile>,
}

/// A file a directive names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub directive: String,
    pub path: PathBuf,
    pub line: usize,
}

/// Reads a front door's configuration: every `server` block, at the top or in `http`, of every file.
pub fn front(texts: &[&str]) -> Result<Front, String> {
    let mut out = Front::default();
    for text in texts {
        let directives = parse(text)?;
        walk_front(&directives, &mut out)?;
    }
    if out.plain.is_empty() && out.tls.is_empty() {
        return Err("no `server { ... }` block listens on a port".into());
    }
    Ok(out)
}

fn walk_front(directives: &[Directive], out: &mut Front) -> Result<(), String> {
    for directive in directives {
        if directive.name == "server" {
            let inner = directive.block.as_deref().unwrap_or_default();
            let listens: Vec<&Directive> = inner.iter().filter(|d| d.name == "listen").collect();
            if listens.is_empty() && !out.plain.contains(&80) {
                out.plain.push(80);
            }
            for listen in listens {
                let port = listen_port(listen)?;
                let list = if listen.args[1..].iter().any(|a| a == "ssl") { &mut out.tls } else { &mut out.plain };
                if !list.contains(&port) {
                    list.push(port);
                }
            }
        }
        if FILE_DIRECTIVES.contains(&directive.name.as_str()) {
            let [path] = directive.args.as_slice() else {
                return Err(format!(
                    "line {}: `{} {}`: it takes one path (a missing `;`?)",
                    directive.line,
                    directive.name,
                    directive.args.join(" ")
                ));
            };
            if path.contains('$') || path.starts_with("data:") || path.starts_with("engine:") {
                return Err(format!(
                    "line {}: `{} {path}`: --up mounts your files at plain paths; name the file itself",
                    directive.line, directive.name
                ));
            }
            let path = normalize(&Path::new(CONF_PREFIX).join(path));
            if !out.files.iter().any(|f| f.path == path) {
                out.files.push(NamedFile { directive: directive.name.clone(), path, line: directive.line });
            }
        }
        if directive.name != "server" || directive.block.is_some() {
            walk_front(directive.block.as_deref().unwrap_or_default(), out)?;
        }
    }
    Ok(())
}

/// `listen 8080;`, `listen *:8080 default_server;`, `listen [::]:8080;`, `listen 80;`...
fn listen_port(listen: &Directive) -> Result<u16, String> {
    let Some(address) = listen.args.first() else {
        return Err(format!("line {}: `listen` needs a port", listen.line));
    };
    const PARAMETERS: [&str; 12] = [
        "default_server",
        "default",
        "ssl",
        "http2",
        "quic",
        "proxy_protocol",
        "reuseport",
        "deferred",
        "bind",
        "backlog=",
        "rcvbuf=",
        "sndbuf=",
    ];
    let known =
        |p: &str| PARAMETERS.iter().any(|k| p == *k || (k.ends_with('=') && p.starts_with(k))) || p.contains('=');
    if let Some(odd) = listen.args[1..].iter().find(|p| !known(p)) {
        return Err(format!(
            "line {}: `listen {}`: `{odd}` is not a listen parameter (a missing `;`?)",
            listen.line,
            listen.args.join(" ")
        ));
    }
    if address.starts_with("unix:") {
        return Err(format!("line {}: `listen {address}` is a Unix socket; the site needs a TCP port", listen.line));
    }
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (Some(host), port),
        _ if address.chars().all(|c| c.is_ascii_digit()) => (None, address.as_str()),
        _ => (Some(address.as_str()), "80"),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("line {}: `listen {address}`: {port} is not a port", listen.line))?;
    if let Some(host) = host.filter(|h| !matches!(*h, "*" | "0.0.0.0" | "[::]")) {
        return Err(format!(
            "line {}: `listen {address}` listens on {host} only, which a container cannot be reached on; `listen {port};` listens on every address",
            listen.line
        ));
    }
    Ok(port)
}

/// `..` and `.` taken out lexically (nginx does not resolve them either).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_of(text: &str) -> Result<(u16, String), String> {
        site(text).map(|s| (s.port, s.root.display().to_string()))
    }

    #[test]
    fn the_usual_server_blocks() {
        let block = "server {\n  listen 8080;\n  listen [::]:8080;\n  root /var/www/portfolio;\n  index index.html;\n  location / { try_files $uri $uri/ =404; }\n}\n";
        assert_eq!(site_of(block), Ok((8080, "/var/www/portfolio".into())));
        assert_eq!(
            site_of("server { listen *:8080 default_server; location / { root '/srv/my site'; } }"),
            Ok((8080, "/srv/my site".into()))
        );
        assert_eq!(site_of("server { listen 0.0.0.0:80; }"), Ok((80, "/usr/share/nginx/html".into())));
        assert_eq!(site_of("server { root html; }"), Ok((80, "/usr/share/nginx/html".into())));
        assert_eq!(site_of("server { root ../www/../site/; }"), Ok((80, "/usr/share/site".into())));
        // A whole nginx.conf: the server inside http.
        let whole = "events {}\nhttp {\n include mime.types;\n server { listen 8080; root /home/me/site; }\n}\n";
        assert_eq!(site_of(whole), Ok((8080, "/home/me/site".into())));
        // Comments, quotes, escapes and ${var} words do not confuse it.
        let tricky = "# a { comment\nserver { # listen 1;\n listen \"8081\"; add_header X-A \"a;b{c}\"; set $x ${y}; root /srv/a; }";
        assert_eq!(site_of(tricky), Ok((8081, "/srv/a".into())));
        // `alias` in `location /` serves the site from there, whatever the server's own root says.
        let aliased = "server { listen 8080; root /usr/share/nginx/html; location / { alias /srv/portfolio/; index index.html; } }";
        assert_eq!(site_of(aliased), Ok((8080, "/srv/portfolio".into())));
        assert_eq!(
            site_of("server { location / { alias /srv/$host/; } }"),
            Err("line 1: `alias /srv/$host/` uses a variable; --up mounts your site at a plain path".into())
        );
    }

    #[test]
    fn what_cannot_run_is_said_with_its_line() {
        assert_eq!(site_of("# nothing\n"), Err("no `server { ... }` block".into()));
        assert_eq!(
            site_of("server {\n listen 8080\n root /srv;\n}"),
            Err("line 2: `listen 8080 root /srv`: `root` is not a listen parameter (a missing `;`?)".into())
        );
        assert_eq!(
            site_of("server {\n listen 8080;\n root /srv"),
            Err("line 3: `root` does not end with `;` (or open a block with `{`)".into())
        );
        assert_eq!(
            site_of("server {\n listen 8080;\n"),
            Err("the block opened on line 1 is never closed (a missing `}`)".into())
        );
        assert_eq!(site_of("}"), Err("line 1: a `}` that closes nothing".into()));
        assert_eq!(site_of("server { listen 127.0.0.1:8080; }").unwrap_err(), "line 1: `listen 127.0.0.1:8080` listens on 127.0.0.1 only, which a container cannot be reached on; `listen 8080;` listens on every address");
        assert_eq!(site_of("server { listen 99999; }").unwrap_err(), "line 1: `listen 99999`: 99999 is not a port");
        assert!(site_of("server { root $document_root; }").unwrap_err().contains("uses a variable"));
        assert!(site_of("server { root /etc; }").unwrap_err().contains("is a system folder"));
        assert!(site_of("server { root /etc/nginx/html; }").unwrap_err().contains("is a system folder"));
        assert!(site_of("server { root /; }").unwrap_err().contains("is a system folder"));
        assert!(site_of("server { listen unix:/run/a.sock; }").unwrap_err().contains("Unix socket"));
    }

    #[test]
    fn a_front_door_its_ports_and_files() {
        let conf = "server {\n listen 8000;\n return 301 https://$host:8443$request_uri;\n}\nserver {\n listen 8443 ssl http2;\n listen [::]:8443 ssl;\n ssl_certificate certs/proxy.crt;\n ssl_certificate_key /etc/ssl/private/proxy.key;\n location / { proxy_pass http://127.0.0.1:8080; }\n}\n";
        let door = front(&[conf]).unwrap();
        assert_eq!((door.plain.as_slice(), door.tls.as_slice()), ([8000].as_slice(), [8443].as_slice()));
        let files: Vec<String> = door.files.iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(files, ["/etc/nginx/certs/proxy.crt", "/etc/ssl/private/proxy.key"]);
        // In `http`, over several files; a server without listen is nginx's port 80.
        let two = front(&["http { ssl_certificate /c.pem; server { listen 443 ssl; } }", "server { }"]).unwrap();
        assert_eq!((two.plain, two.tls, two.files.len()), (vec![80], vec![443], 1));
        assert_eq!(front(&["events {}"]).unwrap_err(), "no `server { ... }` block listens on a port");
        assert!(front(&["server { listen 443 ssl; ssl_certificate $cert; }"]).unwrap_err().contains("plain paths"));
        assert!(front(&["server { listen 443 ssl; ssl_certificate a b; }"]).unwrap_err().contains("takes one path"));
    }

    #[test]
    fn a_block_for_the_hosts_own_nginx() {
        let site = Path::new("/tmp/run/site");
        let text = "# my site\nserver {\n    listen 80 default_server;\n    listen [::]:80;\n    root /var/www/portfolio; # here\n    location /img/ { root /var/www/portfolio/media; }\n    location ~ \\.html$ { add_header X-Kind page; }\n}\n";
        let host = super::for_host(text, site, "127.0.0.1:18080").unwrap();
        assert_eq!(
            host,
            "# my site\nserver {\n    listen 127.0.0.1:18080 default_server;\n                   \n    root \"/tmp/run/site\"; # here\n    location /img/ { root \"/tmp/run/site/media\"; }\n    location ~ \\.html$ { add_header X-Kind page; }\n}\n"
        );
        assert_eq!(host.lines().count(), text.lines().count(), "every directive keeps its line");
        // No listen and no root: nginx's defaults (80, the prefix's html), made explicit.
        let bare = super::for_host("server {\n  index index.html;\n}\n", site, "127.0.0.1:9").unwrap();
        assert_eq!(bare, "server { listen 127.0.0.1:9; root \"/tmp/run/site\";\n  index index.html;\n}\n");
        // `location /`'s root is the site's too; what the container refuses, this refuses.
        let located = super::for_host("server { listen 8080; location / { root html; } }", site, "h:1").unwrap();
        assert_eq!(located, "server { listen h:1; location / { root \"/tmp/run/site\"; } }");
        let aliased = super::for_host("server { listen 8080; location / { alias /srv/p/; } }", site, "h:1").unwrap();
        assert_eq!(aliased, "server { listen h:1; location / { alias \"/tmp/run/site/\"; } }");
        assert!(super::for_host("server { listen 127.0.0.1:8080; }", site, "h:1")
            .unwrap_err()
            .contains("every address"));
    }
}
