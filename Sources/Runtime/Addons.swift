import AppSpec
import Foundation
import HopBasics
import NixBuild

/// Backing services hop runs for apps: one server per type per host, each app's data in its own
/// database and role. Pure: names, unit text, SQL and variables; `HopCore` runs them.
public enum AddonType: String, Sendable, CaseIterable, Codable {
    case postgres, redis, mariadb

    /// What an attached app gets, with `prefix` on every name.
    public func variables(name: String, password: String, prefix: String, sharedServer: Bool = false) -> [(String, String)] {
        switch self {
        case .postgres: PostgresServer.variables(name: name, password: password, prefix: prefix)
        case .redis: RedisServer.variables(name: name, password: password, prefix: prefix, shared: sharedServer)
        case .mariadb: MariaDBServer.variables(name: name, password: password, prefix: prefix)
        }
    }

    /// Where addon `name`'s server listens (Redis: a server per addon).
    public func socketDirectory(name: String) -> String {
        switch self {
        case .postgres: PostgresServer.socketDirectory
        case .redis: RedisServer.socketDirectory(name)
        case .mariadb: MariaDBServer.socketDirectory
        }
    }

    /// The unit of addon `name`'s server; nil `name`: the type's shared server (Redis's is the
    /// legacy one addons made before a server per addon live on until migrated).
    public func unitName(name: String?) -> String {
        switch self {
        case .postgres: PostgresServer.unitName
        case .redis: name.map(RedisServer.unitName) ?? RedisServer.Shared.unitName
        case .mariadb: MariaDBServer.unitName
        }
    }
}

/// Addon names: they become a PostgreSQL database and role name (always double-quoted) and a
/// variable prefix, so they are short and plain: lowercase letters, digits and `-`, starting with
/// a letter, at most 40 characters.
public enum AddonName {
    public static func check(_ name: String) throws {
        guard AddonRules.isName(name) else {
            throw HopError.invalid("`\(UnitRenderer.printable(name))` is not an addon name",
                                   hint: "use lowercase letters, digits and `-`, starting with a letter, at most 40 characters (not `postgres` or `template…`)")
        }
    }

    /// The variable prefix of a second addon of a type: `blog-cache` → `BLOG_CACHE_`.
    public static func prefix(_ name: String) -> String {
        name.uppercased().replacingOccurrences(of: "-", with: "_") + "_"
    }
}

/// hop's PostgreSQL server: Debian's PostgreSQL 15 imported as a seed, run by systemd as a dynamic
/// user with no network at all (`PrivateNetwork=yes`): it listens only on a unix socket in
/// `/run/hop-addons/postgres`, which apps reach from their own network namespaces (a path, not an
/// address). hop itself connects as `postgres` by peer authentication (root only); every other role
/// only to the database of its own name, with its SCRAM password (`local sameuser all`).
public enum PostgresServer {
    public static let unitName = "hop-addon-postgres.service"
    public static let socketDirectory = "/run/hop-addons/postgres"
    public static let stateDirectory = "hop-addons/postgres"
    public static let dataDirectory = "/var/lib/hop-addons/postgres/data"
    public static let port = 5432

    /// The server unit. `postgres` and `busybox` are store paths (checked).
    public static func renderUnit(postgres: String, busybox: String) throws -> String {
        try UnitRenderer.checkStorePath(postgres, what: "the PostgreSQL build")
        try UnitRenderer.checkStorePath(busybox, what: "the busybox seed")
        let d = dataDirectory
        // First start: initdb; every start: hop's access rules (systemd turns `\\n` into `\n` for printf).
        let prepare = "test -e \(d)/PG_VERSION || \(postgres)/bin/initdb -D \(d) -U postgres -E UTF8 --locale=C --auth-local=peer --auth-host=reject >/dev/null; "
            + "printf \"local all postgres peer map=hop\\\\nlocal sameuser all scram-sha-256\\\\n\" > \(d)/pg_hba.conf; "
            + "printf \"hop root postgres\\\\n\" > \(d)/pg_ident.conf"
        return AddonServerUnit.render(type: "postgres", title: "PostgreSQL", service: [
            "Type=notify",
            "ExecStartPre=\(busybox)/bin/sh -c '\(prepare)'",
            "ExecStart=\(postgres)/bin/postgres -D \(d) -c listen_addresses= -c unix_socket_directories=\(socketDirectory) "
                + "-c unix_socket_permissions=0777 -c jit=off -c password_encryption=scram-sha-256",
            "ExecReload=\(busybox)/bin/kill -HUP $MAINPID",
            "KillMode=mixed",
            "KillSignal=SIGINT",
            "TimeoutStopSec=60",
            "Restart=always",
            "RestartSec=1",
        ], identityComment: "# A dynamic user; data in /var/lib/hop-addons/postgres (0700); no network: the socket is the only way in.")
    }

    /// Creates the addon's role (its password) and database, which nobody else may connect to.
    /// Names are checked addon names (quoted as identifiers); the password is hex (no quotes).
    public static func createSQL(name: String, password: String) throws -> String {
        try AddonName.check(name)
        guard password.allSatisfy(\.isHexDigit), password.count >= 32 else { throw HopError(.internalError, "an addon password must be hex") }
        return """
            CREATE ROLE "\(name)" LOGIN PASSWORD '\(password)';
            CREATE DATABASE "\(name)" OWNER "\(name)";
            REVOKE ALL ON DATABASE "\(name)" FROM PUBLIC;
            """
    }

    public static func dropSQL(name: String) throws -> String {
        try AddonName.check(name)
        return """
            DROP DATABASE IF EXISTS "\(name)" WITH (FORCE);
            DROP ROLE IF EXISTS "\(name)";
            """
    }

    /// An extension in the addon's database (run there as the superuser); names are checked.
    public static func extensionSQL(_ ext: String) throws -> String {
        try checkExtension(ext)
        return "CREATE EXTENSION IF NOT EXISTS \"\(ext)\";"
    }

    public static func checkExtension(_ ext: String) throws {
        guard AddonRules.isExtension(ext) else {
            throw HopError.invalid("`\(UnitRenderer.printable(ext))` is not a PostgreSQL extension name",
                                   hint: "e.g. pg_trgm, hstore, citext, pgcrypto, uuid-ossp")
        }
    }

    /// What an attached app gets: `DATABASE_URL` and libpq's `PG*` variables, with `prefix`.
    public static func variables(name: String, password: String, prefix: String) -> [(String, String)] {
        [("\(prefix)DATABASE_URL", "postgresql://\(name):\(password)@/\(name)?host=\(socketDirectory)"),
         ("\(prefix)PGHOST", socketDirectory), ("\(prefix)PGPORT", "\(port)"), ("\(prefix)PGDATABASE", name),
         ("\(prefix)PGUSER", name), ("\(prefix)PGPASSWORD", password)]
    }
}

/// hop's Redis: a server per addon (Debian's Redis 7 imported as a seed), so an app sees, lists and
/// deletes only its own keys, functions and scripts, may use any key names and SELECT any database,
/// and one app's memory or FLUSHALL never touches another's. Each runs as its own dynamic user with
/// no network (`PrivateNetwork=yes`, `port 0`): the unix socket
/// `/run/hop-addons/redis-NAME/redis.sock` only, with append-only persistence (fsync on every
/// write: a killed server loses nothing acknowledged) in /var/lib/hop-addons/redis-NAME. The
/// `default` user is off; hop is the ACL user `hop` (its password's SHA-256 in the ACL file, the
/// password sealed in hop.db); the addon's user may run everything but the admin commands
/// (CONFIG, DEBUG, SHUTDOWN, ACL changes, replication, MONITOR…).
///
/// Addons made before are ACL users of one shared server whose keys start with `NAME:`
/// (`RedisServer.Shared`); `hop addon migrate` (and `hop host up`) moves them to a server of their own.
public enum RedisServer {
    public static func unitName(_ name: String) -> String { "hop-addon-redis-\(name).service" }
    public static func socketDirectory(_ name: String) -> String { "/run/hop-addons/redis-\(name)" }
    public static func socket(_ name: String) -> String { socketDirectory(name) + "/redis.sock" }
    public static func stateDirectory(_ name: String) -> String { "hop-addons/redis-\(name)" }
    public static func dataDirectory(_ name: String) -> String { "/var/lib/" + stateDirectory(name) }

    /// The shared server of earlier hops: prefix-confined ACL users, kept only to migrate from.
    public enum Shared {
        public static let unitName = "hop-addon-redis.service"
        public static let socketDirectory = "/run/hop-addons/redis"
        public static let socket = socketDirectory + "/redis.sock"
        public static let dataDirectory = "/var/lib/hop-addons/redis"
    }

    /// The server unit of addon `name` (nil: the shared one). `adminACL` is a root-only file whose
    /// line names hop's ACL user (with the SHA-256 of its password): it seeds the ACL file on the
    /// first start.
    public static func renderUnit(name: String?, redis: String, busybox: String, adminACL: String) throws -> String {
        try UnitRenderer.checkStorePath(redis, what: "the Redis build")
        try UnitRenderer.checkStorePath(busybox, what: "the busybox seed")
        try UnitRenderer.checkPath(adminACL, what: "hop's Redis ACL file")
        if let name { try AddonName.check(name) }
        let data = name.map(dataDirectory) ?? Shared.dataDirectory, sock = name.map(socket) ?? Shared.socket
        let aclFile = data + "/users.acl"
        let seed = "test -s \(aclFile) || { echo \"user default off\"; cat \(adminACL); } > \(aclFile); chmod 0644 \(aclFile)"
        let type = name.map { "redis-\($0)" } ?? "redis"
        return AddonServerUnit.render(type: type, title: name.map { "Redis of addon \($0)" } ?? "Redis", service: [
            "Type=notify",
            // `+`: as root, to read hop's root-only file; only ever writes the server's own ACL file.
            "ExecStartPre=+\(busybox)/bin/sh -c '\(seed)'",
            "ExecStart=\(redis)/bin/redis-server --port 0 --unixsocket \(sock) --unixsocketperm 777 --dir \(data) "
                + "--aclfile \(aclFile) --appendonly yes --appendfsync always --supervised systemd --daemonize no --protected-mode no --save 60 1",
            "Restart=always",
            "RestartSec=1",
            "TimeoutStopSec=60",
        ], user: name.map { "hop-r-" + String(sha256Hex(Data($0.utf8)).prefix(12)) })
    }

    /// hop's own ACL line: every key, channel and command (the password as its SHA-256).
    public static func adminLine(passwordSHA256 hex: String) -> String { "user hop on #\(hex) ~* &* +@all\n" }

    /// `ACL SETUSER` arguments for an addon (checked name; hex password): on its own server, every
    /// key, channel and command but the admin ones; on the shared server, its prefix only.
    public static func setUser(name: String, password: String, shared: Bool = false) throws -> [String] {
        try AddonName.check(name)
        guard password.allSatisfy(\.isHexDigit), password.count >= 32 else { throw HopError(.internalError, "an addon password must be hex") }
        if shared {
            return ["ACL", "SETUSER", name, "reset", "on", ">" + password, "~\(name):*", "&\(name):*", "+@all", "-@admin", "-@dangerous", "-scan"]
        }
        return ["ACL", "SETUSER", name, "reset", "on", ">" + password, "~*", "&*", "+@all", "-@admin"]
    }

    /// What an attached app gets. `REDIS_KEY_PREFIX` is empty on a server of the addon's own (kept
    /// for apps written for the shared server, which prepend it); `NAME:` on the shared one.
    public static func variables(name: String, password: String, prefix: String, shared: Bool = false) -> [(String, String)] {
        let sock = shared ? Shared.socket : socket(name)
        return [("\(prefix)REDIS_URL", "unix://\(name):\(password)@\(sock)?db=0"), ("\(prefix)REDIS_SOCKET", sock),
                ("\(prefix)REDIS_USERNAME", name), ("\(prefix)REDIS_PASSWORD", password), ("\(prefix)REDIS_KEY_PREFIX", shared ? "\(name):" : "")]
    }
}

/// hop's MariaDB server: Debian's MariaDB 10.11 imported as a seed, a dynamic user, no network
/// (`--skip-networking`, `PrivateNetwork=yes`): the unix socket `/run/hop-addons/mariadb/mariadb.sock`
/// only. `mariadb-install-db` makes the data directory on the first start, with `root@localhost`
/// identified by the unix_socket plugin: only the OS user root (hop) is the superuser. Each addon is
/// a database and a user `NAME@localhost` with its password and every privilege on that database
/// alone.
public enum MariaDBServer {
    public static let unitName = "hop-addon-mariadb.service"
    public static let socketDirectory = "/run/hop-addons/mariadb"
    public static let socket = socketDirectory + "/mariadb.sock"
    public static let stateDirectory = "hop-addons/mariadb"
    public static let dataDirectory = "/var/lib/hop-addons/mariadb/data"

    public static func renderUnit(mariadb: String, busybox: String) throws -> String {
        try UnitRenderer.checkStorePath(mariadb, what: "the MariaDB build")
        try UnitRenderer.checkStorePath(busybox, what: "the busybox seed")
        let d = dataDirectory
        let prepare = "test -d \(d)/mysql || \(busybox)/bin/sh \(mariadb)/bin/mariadb-install-db --no-defaults --basedir=\(mariadb) "
            + "--datadir=\(d) --auth-root-authentication-method=socket --skip-test-db >/dev/null"
        return AddonServerUnit.render(type: "mariadb", title: "MariaDB", service: [
            "Type=notify",
            "ExecStartPre=\(busybox)/bin/sh -c '\(prepare)'",
            "ExecStart=\(mariadb)/sbin/mariadbd --no-defaults --basedir=\(mariadb) --datadir=\(d) --skip-networking "
                + "--socket=\(socket) --pid-file=\(socketDirectory)/mariadb.pid --lc-messages-dir=\(mariadb)/share/mysql "
                + "--plugin-dir=\(mariadb)/lib/mysql/plugin --innodb-use-native-aio=0",
            "Restart=always",
            "RestartSec=1",
            "TimeoutStartSec=120",
            "TimeoutStopSec=120",
        ])
    }

    /// The addon's database and user (checked name, backquoted; hex password).
    public static func createSQL(name: String, password: String) throws -> [String] {
        try AddonName.check(name)
        guard password.allSatisfy(\.isHexDigit), password.count >= 32 else { throw HopError(.internalError, "an addon password must be hex") }
        return ["CREATE DATABASE `\(name)` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                "CREATE USER '\(name)'@'localhost' IDENTIFIED BY '\(password)'",
                "GRANT ALL PRIVILEGES ON `\(name)`.* TO '\(name)'@'localhost'"]
    }

    public static func dropSQL(name: String) throws -> [String] {
        try AddonName.check(name)
        return ["DROP DATABASE IF EXISTS `\(name)`", "DROP USER IF EXISTS '\(name)'@'localhost'"]
    }

    public static func variables(name: String, password: String, prefix: String) -> [(String, String)] {
        [("\(prefix)DATABASE_URL", "mysql://\(name):\(password)@localhost/\(name)?unix_socket=\(socket)"),
         ("\(prefix)MYSQL_HOST", "localhost"), ("\(prefix)MYSQL_UNIX_PORT", socket), ("\(prefix)MYSQL_DATABASE", name),
         ("\(prefix)MYSQL_USER", name), ("\(prefix)MYSQL_PASSWORD", password)]
    }
}

/// The unit every addon server shares around its own service lines: a dynamic user
/// `hop-addon-<type>`, its data in `/var/lib/hop-addons/<type>` (0700) and its socket directory in
/// `/run/hop-addons/<type>` (0755), no network at all, the apps' hardening but only AF_UNIX, and
/// hop's default limits.
enum AddonServerUnit {
    static func render(type: String, title: String, service: [String], identityComment: String? = nil, user: String? = nil) -> String {
        var unit = [
            "# hop-addon-\(type).service: generated by hop. Do not edit: hop rewrites it.",
            "[Unit]",
            "Description=hop addon server: \(title) (unix socket only)",
            "StartLimitIntervalSec=60",
            "StartLimitBurst=20",
            "",
            "[Service]",
        ]
        unit += service
        unit.append("")
        if let identityComment { unit.append(identityComment) }
        unit += [
            "DynamicUser=yes",
            "User=\(user ?? "hop-addon-\(type)")",
            "StateDirectory=hop-addons/\(type)",
            "StateDirectoryMode=0700",
            "RuntimeDirectory=hop-addons/\(type)",
            "RuntimeDirectoryMode=0755",
            "PrivateNetwork=yes",
            "UMask=0077",
        ]
        unit += UnitRenderer.hardening(allowJIT: false).map { $0.hasPrefix("RestrictAddressFamilies=") ? "RestrictAddressFamilies=AF_UNIX" : $0 }
        unit += ["MemoryMax=\(UnitRenderer.defaultMemoryMax)", "TasksMax=\(UnitRenderer.defaultTasksMax)", "", "[Install]", "WantedBy=multi-user.target", ""]
        return unit.joined(separator: "\n")
    }
}
