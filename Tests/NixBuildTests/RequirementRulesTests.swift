import Foundation
import Testing
import HopBasics
import NixBuild

/// What a tenant's requirements may name: packages from the index or the wheelhouse only.
@Suite struct RequirementRulesTests {
    @Test("local paths, VCS, URLs and pip options that read elsewhere are refused, located at line and column", arguments: [
        ("./evil", 1, 1, "is a local path"), ("flask\n  ../up/pkg", 2, 3, "is a local path"), ("/abs/pkg", 1, 1, "is a local path"),
        ("evil/", 1, 1, "is a local path"), ("git+https://x.org/r.git#egg=r", 1, 1, "version control"),
        ("r @ git+https://x.org/r.git", 1, 1, "version control"), ("flask @ https://x.org/f.whl", 1, 1, "direct URL"),
        ("file:///srv/pkg", 1, 1, "direct URL"), ("-e .", 1, 1, "option `-e`"), ("--index-url https://evil", 1, 1, "option `--index-url`"),
        ("-r ../../etc/other.txt", 1, 1, "option `-r`"), ("flask --install-option=--prefix=/", 1, 1, "option `--install-option`"),
        ("# ok\nflask==3.1\n-c constraints.txt", 3, 1, "option `-c`"),
    ])
    func refused(_ text: String, _ line: Int, _ column: Int, _ says: String) throws {
        let e = #expect(throws: HopError.self) { try Locker.checkRequirementsFile(text, file: "/app/requirements.txt") }
        #expect(e?.code == .invalidInput && e?.message.contains(says) == true, "\(String(describing: e))")
        #expect(e?.location?.line == line && e?.location?.column == column, "\(String(describing: e?.location))")
    }

    @Test("names, versions, extras, markers and hashes pass")
    func accepted() throws {
        try Locker.checkRequirementsFile("""
            flask==3.1.3  # the web framework
            requests[socks]>=2,<3 ; python_version >= "3.8"
            gunicorn \\
                --hash=sha256:0123
            --prefer-binary
            Django~=5.0

            """, file: "requirements.txt")
    }
}
