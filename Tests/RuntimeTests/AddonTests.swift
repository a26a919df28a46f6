import Foundation
import Testing
import HopBasics
import HopTestSupport
@testable import Runtime

/// hop's addon servers, as text: unit files (snapshots, exposure), SQL, ACL rules and variables.
@Suite struct AddonTests {
    let pg = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hop-postgres"
    let redis = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hop-redis"
    let busybox = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hop-seed-busybox-1.35.0"

    @Test func serverUnitsSnapshotAndScoreLow() throws {
        let postgres = try PostgresServer.renderUnit(postgres: pg, busybox: busybox)
        let r = try RedisServer.renderUnit(name: "blog-cache", redis: redis, busybox: busybox, adminACL: "/var/lib/hop/addons/redis-admin.acl")
        let shared = try RedisServer.renderUnit(name: nil, redis: redis, busybox: busybox, adminACL: "/var/lib/hop/addons/redis-admin.acl")
        let m = try MariaDBServer.renderUnit(mariadb: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hop-mariadb", busybox: busybox)
        try assertSnapshot(postgres, named: "addon-postgres.service")
        try assertSnapshot(r, named: "addon-redis-blog-cache.service")
        try assertSnapshot(shared, named: "addon-redis.service")
        try assertSnapshot(m, named: "addon-mariadb.service")
        // A server per Redis addon: its own socket, data, user (a name systemd accepts: ≤ 31 characters).
        #expect(r.contains("--unixsocket /run/hop-addons/redis-blog-cache/redis.sock") && r.contains("StateDirectory=hop-addons/redis-blog-cache"))
        let user = try #require(r.split(separator: "\n").first { $0.hasPrefix("User=") }).dropFirst(5)
        #expect(user.hasPrefix("hop-r-") && user.count <= 31, "\(user)")
        #expect(throws: HopError.self) { try RedisServer.renderUnit(name: "a;b", redis: redis, busybox: busybox, adminACL: "/x") }
        for (name, text) in [(PostgresServer.unitName, postgres), (RedisServer.unitName("blog-cache"), r), (RedisServer.Shared.unitName, shared),
                             (MariaDBServer.unitName, m)] {
            #expect(text.contains("\nPrivateNetwork=yes\n") && text.contains("\nRestrictAddressFamilies=AF_UNIX\n"), "\(name)")
            let score = try UnitValidation.exposure(unitText: text, name: name)
            print("\(name) exposure: \(score)")
            #expect(score <= 1.0, "\(name) scores \(score)")
        }
        #expect(throws: HopError.self) { try PostgresServer.renderUnit(postgres: "/usr/lib/postgresql", busybox: busybox) }
    }

    @Test func namesSQLAndVariables() throws {
        for bad in ["", "A", "1db", "db-", "a_b", "a b", "a;b", "postgres", "template1", String(repeating: "a", count: 41), "a\"b"] {
            #expect(throws: HopError.self, "\(bad)") { try AddonName.check(bad) }
        }
        try AddonName.check("blog-db")
        #expect(AddonName.prefix("blog-cache") == "BLOG_CACHE_")
        let password = String(repeating: "ab", count: 24)
        #expect(try PostgresServer.createSQL(name: "blog-db", password: password) ==
                "CREATE ROLE \"blog-db\" LOGIN PASSWORD '\(password)';\nCREATE DATABASE \"blog-db\" OWNER \"blog-db\";\nREVOKE ALL ON DATABASE \"blog-db\" FROM PUBLIC;")
        #expect(throws: HopError.self) { try PostgresServer.createSQL(name: "blog-db", password: "x'; DROP ROLE postgres; --") }
        #expect(throws: HopError.self) { try PostgresServer.extensionSQL("pg_trgm\"; DROP") }
        #expect(try RedisServer.setUser(name: "cache", password: password) ==
                ["ACL", "SETUSER", "cache", "reset", "on", ">" + password, "~*", "&*", "+@all", "-@admin"])
        #expect(try RedisServer.setUser(name: "cache", password: password, shared: true) ==
                ["ACL", "SETUSER", "cache", "reset", "on", ">" + password, "~cache:*", "&cache:*", "+@all", "-@admin", "-@dangerous", "-scan"])
        let v = Dictionary(uniqueKeysWithValues: AddonType.postgres.variables(name: "blog-db", password: "pw", prefix: "MAIN_"))
        #expect(v["MAIN_DATABASE_URL"] == "postgresql://blog-db:pw@/blog-db?host=/run/hop-addons/postgres" && v["MAIN_PGUSER"] == "blog-db")
        #expect(try MariaDBServer.createSQL(name: "shop-db", password: password) == [
            "CREATE DATABASE `shop-db` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            "CREATE USER 'shop-db'@'localhost' IDENTIFIED BY '\(password)'", "GRANT ALL PRIVILEGES ON `shop-db`.* TO 'shop-db'@'localhost'"])
        #expect(throws: HopError.self) { try MariaDBServer.createSQL(name: "shop`db", password: password) }
        let m = Dictionary(uniqueKeysWithValues: AddonType.mariadb.variables(name: "shop-db", password: "pw", prefix: ""))
        #expect(m["DATABASE_URL"] == "mysql://shop-db:pw@localhost/shop-db?unix_socket=/run/hop-addons/mariadb/mariadb.sock" && m["MYSQL_UNIX_PORT"] != nil)
        let r = Dictionary(uniqueKeysWithValues: AddonType.redis.variables(name: "cache", password: "pw", prefix: ""))
        #expect(r["REDIS_URL"] == "unix://cache:pw@/run/hop-addons/redis-cache/redis.sock?db=0" && r["REDIS_KEY_PREFIX"] == "")
        let legacy = Dictionary(uniqueKeysWithValues: AddonType.redis.variables(name: "cache", password: "pw", prefix: "", sharedServer: true))
        #expect(legacy["REDIS_URL"] == "unix://cache:pw@/run/hop-addons/redis/redis.sock?db=0" && legacy["REDIS_KEY_PREFIX"] == "cache:")
    }
}
