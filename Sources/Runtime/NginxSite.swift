import AppSpec
import HopBasics

/// The nginx configuration for one app generation, as pure text.
///
/// Nothing is escaped: every value that reaches the output is first checked against a small
/// allow-list (ASCII letters, digits and a few punctuation marks that mean nothing to nginx's
/// parser), and anything else — `;`, braces, quotes, `$`, whitespace, control characters,
/// non-ASCII look-alikes — is refused with an `.invalidInput` error naming the value and the field
/// it came from. So a rendered site can never contain a directive hop did not write.
///
/// Decisions worth knowing:
/// - No `[domains]` means a catch-all: `server_name _;` with `default_server` on the listen
///   sockets, so the app answers every host name not claimed by another site on that port. Two
///   catch-all apps on one port are rejected by `nginx -t` ("duplicate default server").
/// - Static files are confined to the generation's tree: `disable_symlinks` refuses any symlink
///   below the served directory (a `public/rootfs -> /` serves nothing), and dotfiles (`.env`,
///   `.git/`) answer 404, `/.well-known/` excepted.
/// - Static prefixes always end in `/` (`/static` renders `location ^~ /static/`), which closes the
///   classic `alias` traversal (`/static../secret`). Nix store files all have mtime 1, so static
///   locations turn off `ETag`/`If-Modified-Since` (they would collide across generations) and send
///   `Cache-Control: no-cache`.
/// - The websocket `map` lives in `httpPreamble()` under the name `$hop_connection_upgrade` (not the
///   common `$connection_upgrade`, so hop's include never clashes with a map the host already
///   defines). For ordinary requests it yields an empty `Connection` header, which keeps the
///   upstream keepalive pool usable.
public enum NginxSite {
    /// Seconds nginx keeps a pooled connection to a proxied (TCP, FastCGI) upstream at most
    /// (`keepalive_time`): after a switch, the old generation may get requests for that long.
    public static let pooledConnectionLifetime: Double = 1

    /// A site hop rendered, listening on the front's ports as they are now: a generation keeps the
    /// site it was built with, and `hop host up --http-port M` must move every app to M without a
    /// rebuild. Only hop's own `listen` lines change (plain ones to `http`, `ssl` ones to `https`).
    public static func withPorts(_ site: String, http: Int, https: Int?) -> String {
        var lines = site.components(separatedBy: "\n")
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("listen "), t.hasSuffix(";") else { continue }
            var words = t.dropFirst("listen ".count).dropLast().split(separator: " ").map(String.init)
            guard let first = words.first else { continue }
            let v6 = first.hasPrefix("[::]:")
            guard Int(v6 ? String(first.dropFirst(5)) : first) != nil else { continue }
            let tls = words.contains("ssl")
            guard let port = tls ? https : http else { continue }
            words[0] = (v6 ? "[::]:" : "") + String(port)
            lines[i] = String(line.prefix { $0 == " " }) + "listen " + words.joined(separator: " ") + ";"
        }
        return lines.joined(separator: "\n")
    }

    /// The site of a stopped app: every request but ACME's challenges answers 503 with a page that
    /// says the app was stopped and how it comes back (a 502 would read as a crash).
    public static func stopped(_ site: String, app: String) -> String {
        let page = "<!doctype html><meta charset=utf-8><title>\(app) is stopped</title>"
            + "<h1>\(app) is stopped</h1><p>An operator stopped this app. It answers again once it is started "
            + "(<code>hop start \(app)</code>).</p>\\n"
        let block = """
                # hop: the app is stopped (`hop stop`); `hop start` puts the site back.
                add_header Retry-After 300 always;
                if ($uri !~ "^/\\.well-known/acme-challenge/") {
                    return 503 "\(page)";
                }
                default_type text/html;
            """
        var lines = site.components(separatedBy: "\n")
        var i = 0
        while i < lines.count {
            if lines[i].trimmingCharacters(in: .whitespaces).hasPrefix("server_name ") {
                lines.insert(block, at: i + 1)
                i += 1
            }
            i += 1
        }
        return lines.joined(separator: "\n")
    }

    /// A certificate and key for an extra `listen … ssl` socket. Obtaining them (or a self-signed
    /// fallback) happens elsewhere; here they are only validated and referenced.
    public struct TLS: Sendable, Hashable {
        public var certificate: String
        public var key: String
        /// 443 on a real host; a high port in tests.
        public var port: Int
        /// ACME HTTP-01: the loopback port of the ACME client's challenge server, to which
        /// `/.well-known/acme-challenge/` is proxied (nil: no ACME on this host).
        public var challengePort: Int?
        /// A directory whose `*.conf` files are included in the server block: the HTTP → HTTPS
        /// redirect hop writes there once the app has a CA-issued certificate (none matches before).
        public var includeDirectory: String?
        public init(certificate: String, key: String, port: Int = 443, challengePort: Int? = nil, includeDirectory: String? = nil) {
            self.certificate = certificate; self.key = key; self.port = port
            self.challengePort = challengePort; self.includeDirectory = includeDirectory
        }
    }

    /// What hop writes into a TLS site's include directory once a CA-issued certificate serves:
    /// plain HTTP is redirected to HTTPS, except ACME's own challenge requests.
    public static func httpsRedirect(httpsPort: Int) -> String {
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        return """
            # hop: HTTP is redirected to HTTPS (written when a CA-issued certificate was installed)
            set $hop_to_https "";
            if ($scheme = "http") { set $hop_to_https "1"; }
            if ($uri ~ "^/\\.well-known/acme-challenge/") { set $hop_to_https ""; }
            if ($hop_to_https) { return 301 https://$host\(port)$request_uri; }

            """
    }

    /// The `http {}`-level text that every hop site relies on; hop includes it exactly once.
    public static func httpPreamble() -> String {
        """
        # hop: shared http-level settings for hop sites (generated; do not edit)
        map $http_upgrade $hop_connection_upgrade {
            default upgrade;
            ''      '';
        }
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:hop_ssl:10m;
        ssl_session_timeout 1h;

        """
    }

    /// The name of the `upstream` block for an app: `hop_<app>`.
    public static func upstreamName(app: String) -> String { "hop_\(app)" }

    /// Renders the site (one `upstream`, one `server`) for `spec`, optionally with a TLS listener.
    ///
    /// - Throws: `HopError` `.invalidInput` when any value could change the meaning of the config.
    public static func render(_ spec: GenerationSpec, tls: TLS? = nil) throws -> String {
        let app = try checkedAppName(spec.app)
        let context = "the nginx site of app `\(app)`"
        let port = try checkedPort(spec.listenPort, field: "listen port", context: context)
        guard spec.generation >= 0 else {
            throw HopError.invalid("\(context): the generation number \(spec.generation) is negative",
                                   hint: "generations are numbered from 0 upwards")
        }
        let bodySize = try checkedBodySize(spec.clientMaxBodySize, context: context)
        let domains = try checkedDomains(spec.domains, context: context)
        let statics = try checkedStaticPaths(spec.staticPaths, context: context)

        var server: String?
        switch spec.upstream {
        case .socket(let path):
            let checked = try checkedPath(path, field: "upstream socket path", context: context)
            // sun_path holds 108 bytes including the terminating NUL.
            guard checked.utf8.count <= 107 else {
                throw HopError.invalid("\(context): the upstream socket path `\(checked)` is \(checked.utf8.count) bytes long; a unix socket path holds at most 107",
                                       hint: "use a shorter directory for the app's sockets")
            }
            server = "server unix:\(checked);"
        case .tcp(let upstreamPort):
            // The app's port is inside its own network namespace; nginx reaches each instance
            // through its proxy socket's fixed symlink, so the text does not change with the port.
            _ = try checkedPort(upstreamPort, field: "upstream TCP port", context: context)
            let count = max(1, spec.processes.first { $0.kind.servesHTTP }?.instances ?? 1)
            guard spec.proxyLinks.count == count else {
                throw HopError.invalid("\(context): \(count) web instance\(count == 1 ? "" : "s") but \(spec.proxyLinks.count) proxy socket path\(spec.proxyLinks.count == 1 ? "" : "s")",
                                       hint: "give one proxy socket path per web instance")
            }
            server = try spec.proxyLinks.map { link -> String in
                let checked = try checkedPath(link, field: "proxy socket path", context: context)
                guard checked.utf8.count <= 107 else {
                    throw HopError.invalid("\(context): the proxy socket path `\(checked)` is \(checked.utf8.count) bytes long; a unix socket path holds at most 107",
                                           hint: "use a shorter directory for the app's sockets")
                }
                return "server unix:\(checked);"
            }.joined(separator: "\n    ")
        case .none:
            server = nil
        }
        let siteRoot = try spec.siteRoot.map { try checkedServedDirectory($0, field: "site root", context: context) }
        if server == nil && siteRoot == nil {
            throw HopError.invalid("\(context): the app has neither a web process nor a static site root",
                                   hint: "add a `web:` or `wsgi:` process, or a `static: /:dir` mapping")
        }
        let tlsChecked: (cert: String, key: String, port: Int, challenge: Int?, include: String?)? = try tls.map {
            (try checkedPath($0.certificate, field: "TLS certificate path", context: context),
             try checkedPath($0.key, field: "TLS key path", context: context),
             try checkedPort($0.port, field: "TLS port", context: context),
             try $0.challengePort.map { try checkedPort($0, field: "ACME challenge port", context: context) },
             try $0.includeDirectory.map { try checkedPath($0, field: "TLS include directory", context: context) })
        }
        if let tlsChecked, tlsChecked.port == port {
            throw HopError.invalid("\(context): the TLS port and the plain listen port are both \(port)",
                                   hint: "give TLS its own port (443 on a real host)")
        }

        let upstream = upstreamName(app: app)
        let isDefault = domains.isEmpty ? " default_server" : ""
        var out = "# hop: app \(app) (generated; do not edit)\n"
        // A TCP app's pooled connections go to the proxy of the generation they were opened to, and
        // systemd-socket-proxyd cannot stop gracefully: `keepalive_time` makes nginx itself close
        // each pooled connection, between requests, within a second, so after a switch (and hop's
        // drain, longer than this) none is left on the old generation when it stops.
        // With an idle timeout of the same second, a pooled connection nginx takes more than twice
        // that after a switch was opened after it: the old generation gets no request after that.
        let poolLifetime: String
        if case .tcp = spec.upstream {
            poolLifetime = "\n    keepalive_time \(Int(Self.pooledConnectionLifetime))s;"
        } else { poolLifetime = "" }
        let idleTimeout: String
        if case .tcp = spec.upstream { idleTimeout = "\(Int(Self.pooledConnectionLifetime))s" } else { idleTimeout = "60s" }
        if let server {
            out += """
            upstream \(upstream) {
                \(server)
                keepalive 16;
                keepalive_timeout \(idleTimeout);\(poolLifetime)
            }


            """
        }
        out += """
        server {
            listen \(port)\(isDefault);
            listen [::]:\(port)\(isDefault);

        """
        if let tlsChecked {
            out += """
                listen \(tlsChecked.port) ssl\(isDefault);
                listen [::]:\(tlsChecked.port) ssl\(isDefault);
                ssl_certificate \(tlsChecked.cert);
                ssl_certificate_key \(tlsChecked.key);

            """
        }
        out += """
            server_name \(domains.isEmpty ? "_" : domains.joined(separator: " "));
            client_max_body_size \(bodySize);

        """
        if let tlsChecked, let challenge = tlsChecked.challenge {
            if let include = tlsChecked.include {
                out += "    include \(include)/*.conf;\n"
            }
            out += """

                location ^~ /.well-known/acme-challenge/ {
                    proxy_pass http://127.0.0.1:\(challenge);
                    proxy_set_header Host $host;
                    proxy_connect_timeout 5s;
                }

            """
        }
        for (prefix, dir) in statics {
            out += """

                location ^~ \(prefix) {
                    alias \(dir);
                    disable_symlinks on from=$document_root;
                    location ~ /\\.(?!well-known/) { return 404; }
                    etag off;
                    if_modified_since off;
                    add_header Cache-Control "no-cache" always;
                }

            """
        }
        if let siteRoot, server == nil {
            out += """

                location / {
                    root \(siteRoot);
                    disable_symlinks on from=$document_root;
                    location ~ /\\.(?!well-known/) { return 404; }
                    index index.html;
                    try_files $uri $uri/ =404;
                    etag off;
                    if_modified_since off;
                    add_header Cache-Control "no-cache" always;
                }
            }

            """
            return out
        }
        if let php = spec.php, server != nil {
            let root = try checkedServedDirectory(php.documentRoot, field: "PHP document root", context: context)
            out += """

                root \(root);
                index index.php index.html;
                location ~ /\\.(?!well-known/) { return 404; }

            """
            for d in php.deny {
                try checkScalars(d, field: "PHP deny path", context: context)
                let clean = d.split(separator: "/").filter { !$0.isEmpty && $0 != "." }.joined(separator: "/")
                guard !clean.isEmpty, !clean.split(separator: "/").contains("..") else {
                    throw HopError.invalid("\(context): the PHP deny path `\(d)` is not a path under the document root", hint: "e.g. `data` or `conf`")
                }
                out += "    location = /\(clean) { return 403; }\n    location ^~ /\(clean)/ { return 403; }\n"
            }
            out += """

                location / {
                    disable_symlinks on from=$document_root;
                    try_files $uri $uri/ /index.php$is_args$args;
                    etag off;
                    if_modified_since off;
                    add_header Cache-Control "no-cache" always;
                }

                # PHP through PHP-FPM. $realpath_root: the generation's store path, so each
                # generation's scripts (and OPcache entries) are its own.
                location ~ [^/]\\.php(/|$) {
                    fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
                    if (!-f $realpath_root$fastcgi_script_name) { return 404; }
                    fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
                    fastcgi_param SCRIPT_NAME $fastcgi_script_name;
                    fastcgi_param PATH_INFO $fastcgi_path_info;
                    fastcgi_param DOCUMENT_ROOT $realpath_root;
                    fastcgi_param DOCUMENT_URI $document_uri;
                    fastcgi_param QUERY_STRING $query_string;
                    fastcgi_param REQUEST_METHOD $request_method;
                    fastcgi_param CONTENT_TYPE $content_type;
                    fastcgi_param CONTENT_LENGTH $content_length;
                    fastcgi_param REQUEST_URI $request_uri;
                    fastcgi_param REQUEST_SCHEME $scheme;
                    fastcgi_param HTTPS $https if_not_empty;
                    fastcgi_param SERVER_PROTOCOL $server_protocol;
                    fastcgi_param GATEWAY_INTERFACE CGI/1.1;
                    fastcgi_param SERVER_SOFTWARE nginx;
                    fastcgi_param REMOTE_ADDR $remote_addr;
                    fastcgi_param REMOTE_PORT $remote_port;
                    fastcgi_param SERVER_ADDR $server_addr;
                    fastcgi_param SERVER_PORT $server_port;
                    fastcgi_param SERVER_NAME $host;
                    fastcgi_param HTTP_PROXY "";
                    fastcgi_index index.php;
                    fastcgi_pass \(upstream);
                    fastcgi_keep_conn on;
                    fastcgi_connect_timeout 5s;
                    fastcgi_read_timeout 300s;
                    fastcgi_next_upstream error timeout;
                    fastcgi_next_upstream_tries 2;
                }
            }

            """
            return out
        }
        out += """

            location / {
                proxy_pass http://\(upstream);
                proxy_http_version 1.1;
                proxy_set_header Host $host;
                proxy_set_header X-Real-IP $remote_addr;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_set_header X-Forwarded-Proto $scheme;
                proxy_set_header X-Forwarded-Host $host;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection $hop_connection_upgrade;
                proxy_redirect off;
                proxy_connect_timeout 5s;
                proxy_send_timeout 60s;
                proxy_read_timeout 300s;
                proxy_next_upstream error timeout;
                proxy_next_upstream_tries 2;
            }
        }

        """
        return out
    }

    // MARK: - Validation

    /// The characters allowed in paths and URL prefixes: nothing nginx's parser treats specially.
    private static func isPathScalar(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
            || c == "." || c == "_" || c == "~" || c == "/" || c == "-"
    }

    private static func checkedAppName(_ app: String) throws -> String {
        do {
            return try validateAppName(app, at: nil)
        } catch let error as HopError {
            throw HopError.invalid("cannot render an nginx site: \(error.message)", hint: error.hint)
        }
    }

    private static func checkedPort(_ port: Int, field: String, context: String) throws -> Int {
        guard (1...65535).contains(port) else {
            throw HopError.invalid("\(context): the \(field) \(port) is not between 1 and 65535", hint: "use a TCP port number")
        }
        return port
    }

    private static func checkedBodySize(_ size: String, context: String) throws -> String {
        let scalars = Array(size.unicodeScalars)
        let digits = scalars.prefix { ("0"..."9").contains($0) }
        let rest = scalars.dropFirst(digits.count)
        let unitOK = rest.isEmpty || (rest.count == 1 && "kKmMgG".unicodeScalars.contains(rest.first!))
        guard !digits.isEmpty, digits.count <= 9, unitOK else {
            throw HopError.invalid("\(context): the client_max_body_size \(shown(size)) is not a size",
                                   hint: "write digits with an optional k, m or g suffix, e.g. `10m`")
        }
        return size
    }

    private static func checkedDomains(_ domains: [String], context: String) throws -> [String] {
        var seen = Set<String>()
        return try domains.map { domain in
            do {
                _ = try validateDomainName(domain, at: nil)
            } catch let error as HopError {
                throw HopError.invalid("\(context): \(error.message)", hint: error.hint)
            }
            guard seen.insert(domain).inserted else {
                throw HopError.invalid("\(context): the domain `\(domain)` is listed twice", hint: "list each domain once")
            }
            return domain
        }
    }

    /// An absolute path of allow-listed characters with no empty, `.` or `..` components (a single
    /// trailing `/` is dropped).
    private static func checkedPath(_ path: String, field: String, context: String) throws -> String {
        try checkScalars(path, field: field, context: context)
        guard path.hasPrefix("/") else {
            throw HopError.invalid("\(context): the \(field) \(shown(path)) is not absolute", hint: "write a path starting with `/`")
        }
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let components = trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        if trimmed != "/", let bad = components.first(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw HopError.invalid("\(context): the \(field) \(shown(path)) contains \(bad.isEmpty ? "an empty component (`//`)" : "a `\(bad)` component")",
                                   hint: "write the path in its plain form, without `//`, `.` or `..`")
        }
        return trimmed
    }

    /// Static paths sorted by prefix, each as (`/prefix/`, `/nix/store/…/dir/`).
    private static func checkedStaticPaths(_ statics: [String: String], context: String) throws -> [(String, String)] {
        var result: [(String, String)] = []
        var seen = Set<String>()
        for (prefix, dir) in statics.sorted(by: { $0.key < $1.key }) {
            let field = "static path prefix"
            try checkScalars(prefix, field: field, context: context)
            guard prefix.hasPrefix("/") else {
                throw HopError.invalid("\(context): the \(field) \(shown(prefix)) does not start with `/`", hint: "write it as a URL path, e.g. `/static`")
            }
            let components = prefix.split(separator: "/", omittingEmptySubsequences: true)
            if components.isEmpty {
                throw HopError.invalid("\(context): the \(field) `/` would hide the app", hint: "serve static files under a sub-path such as `/static`")
            }
            if prefix.contains("//") || components.contains(where: { $0 == "." || $0 == ".." }) {
                throw HopError.invalid("\(context): the \(field) \(shown(prefix)) contains `//`, `.` or `..`", hint: "write a plain URL path such as `/static`")
            }
            let location = "/" + components.joined(separator: "/") + "/"
            guard seen.insert(location).inserted else {
                throw HopError.invalid("\(context): the \(field) \(shown(prefix)) is the same location as another prefix (`\(location)`)",
                                       hint: "list each static prefix once")
            }
            let directory = try checkedServedDirectory(dir, field: "static directory for `\(prefix)`", context: context)
            result.append((location, directory + "/"))
        }
        return result
    }

    /// A directory nginx serves: inside /nix/store (the app's closure) or under /run/hop/ (hop's
    /// per-app `current` symlink into the closure, which lets a switch happen without a reload).
    private static func checkedServedDirectory(_ dir: String, field: String, context: String) throws -> String {
        let directory = try checkedPath(dir, field: field, context: context)
        let inStore = directory.hasPrefix("/nix/store/") && directory.count > "/nix/store/".count
        let inRuntime = directory.hasPrefix("/run/hop/") && directory.count > "/run/hop/".count
        guard inStore || inRuntime else {
            throw HopError.invalid("\(context): the \(field) \(shown(dir)) is not inside /nix/store or /run/hop",
                                   hint: "static directories are served from the app's closure: /nix/store/…-app/…")
        }
        return directory
    }

    private static func checkScalars(_ value: String, field: String, context: String) throws {
        guard !value.isEmpty else {
            throw HopError.invalid("\(context): the \(field) is empty", hint: "give a value")
        }
        for (index, c) in value.unicodeScalars.enumerated() where !isPathScalar(c) {
            throw HopError.invalid("\(context): the \(field) \(shown(value)) contains \(describe(c)) at position \(index + 1)",
                                   hint: "use only ASCII letters, digits, `.`, `_`, `~`, `-` and `/`")
        }
    }

    /// The value in backticks, with control characters shown as `\u{…}`.
    private static func shown(_ s: String) -> String {
        "`" + s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "`"
    }

    private static func describe(_ c: Unicode.Scalar) -> String {
        switch c {
        case " ": return "a space"
        case "\t": return "a tab"
        case "\n", "\r": return "a line break"
        case "\0": return "a NUL character"
        case ";": return "a `;`"
        case "{", "}": return "a `\(c)`"
        case "\"", "'", "`": return "a quote"
        case "$": return "a `$`"
        default:
            let digits = String(c.value, radix: 16, uppercase: true)
            let hex = "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
            if c.value < 0x20 || c.value == 0x7F { return "the control character \(hex)" }
            if c.value > 0x7F { return "the non-ASCII character `\(c)` (\(hex))" }
            return "the character `\(c)`"
        }
    }
}
