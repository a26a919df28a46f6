import Foundation
import Testing
@testable import Provenance

@Suite("SBOM package names", .tags(.sbom))
struct SBOMPackageNameTests {
    @Test("store path names parse like builtins.parseDrvName, without output suffixes or file versions",
          arguments: [
              ("hop-seed-python-3.11.2", "hop-seed-python", "3.11.2"),
              ("python3.11-env", "python3.11-env", nil),
              ("flask-app-0.3.0", "flask-app", "0.3.0"),
              ("flask-app-0", "flask-app", "0"),
              ("hop-python", "hop-python", nil),
              ("source.tar", "source.tar", nil),
              ("flask-app-source.tar", "flask-app-source.tar", nil),
              ("hello-2.12.1.tar.gz", "hello-2.12.1.tar.gz", nil),
              ("greet-1.0.0.tgz", "greet-1.0.0.tgz", nil),
              ("app.sh", "app.sh", nil),
              ("flask-3.1.3-py3-none-any.whl", "flask", "3.1.3"),
              ("markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.whl", "markupsafe", "3.0.4"),
              ("openssl-3.0.8-bin", "openssl", "3.0.8"),
              ("openssl-3.0.8-dev", "openssl", "3.0.8"),
              ("glibc-2.37-8-lib", "glibc", "2.37-8"),
              ("gcc-12.2.0-man", "gcc", "12.2.0"),
              ("zlib-1.3-out", "zlib", "1.3"),
              ("foo-dev", "foo-dev", nil),
              ("node-modules", "node-modules", nil),
              ("nix-2.8.0pre20220530_af23d38", "nix", "2.8.0pre20220530_af23d38"),
              ("chromium-unwrapped-120.0", "chromium-unwrapped", "120.0"),
              ("x-é", "x", "é"),
          ] as [(String, String, String?)])
    func parsesNames(input: String, name: String, version: String?) {
        let p = PackageName(parsing: input)
        #expect(p.name == name)
        #expect(p.version == version)
    }

    @Test("the hash part of a store path is dropped; other paths keep their last component")
    func storePathName() {
        #expect(PackageName.storePathName("/nix/store/jf8i870v0fjbviv8rsxvdrfid0j4i2sl-hop-seed-python-3.11.2") == "hop-seed-python-3.11.2")
        #expect(PackageName(storePath: "/nix/store/jf8i870v0fjbviv8rsxvdrfid0j4i2sl-hop-seed-python-3.11.2")
                == PackageName(name: "hop-seed-python", version: "3.11.2"))
        #expect(PackageName.storePathName("/tmp/not-a-store-path-1.0") == "not-a-store-path-1.0")
        #expect(PackageName.storePathName("/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x") == "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x")
    }

    @Test("pname and version from the derivation win over the path's name")
    func derivationNames() {
        let path = "/nix/store/3f72g25ab28n9gc2x6yqvvrdjaq343m7-hop-python"
        #expect(PackageName(storePath: path, derivation: DerivationName(pname: "python3", version: "3.11.2"))
                == PackageName(name: "python3", version: "3.11.2"))
        #expect(PackageName(storePath: path, derivation: DerivationName(pname: "python3", version: nil))
                == PackageName(name: "python3", version: nil))
        #expect(PackageName(storePath: path, derivation: DerivationName(pname: nil, version: "7"))
                == PackageName(name: "hop-python", version: "7"))
        #expect(PackageName(storePath: path + "-1.0", derivation: DerivationName(pname: "", version: ""))
                == PackageName(name: "hop-python", version: "1.0"))
    }
}

@Suite("SBOM licenses and identifiers", .tags(.sbom))
struct SBOMLicenseTests {
    @Test("lock license text becomes an SPDX id, an expression or a name",
          arguments: [
              ("MIT", "id:MIT"),
              ("mit", "id:MIT"),
              ("  Apache-2.0 ", "id:Apache-2.0"),
              ("BSD-3-Clause", "id:BSD-3-Clause"),
              ("Apache-2.0 OR BSD-2-Clause", "expression:Apache-2.0 OR BSD-2-Clause"),
              ("apache-2.0 or (bsd-2-clause and mit)", "expression:Apache-2.0 OR (BSD-2-Clause AND MIT)"),
              ("GPL-2.0-or-later WITH Classpath-exception-2.0", "expression:GPL-2.0-or-later WITH Classpath-exception-2.0"),
              ("GPL-2.0+", "id:GPL-2.0+"),
              ("Apache-2.0+", "expression:Apache-2.0+"),
              ("BSD License", "name:BSD License"),
              ("MIT License", "name:MIT License"),
              ("MIT AND", "name:MIT AND"),
              ("(MIT", "name:(MIT"),
              ("MIT WITH MIT", "name:MIT WITH MIT"),
              ("LicenseRef-Proprietary", "name:LicenseRef-Proprietary"),
              ("Not-A-License-9.9", "name:Not-A-License-9.9"),
          ])
    func classifies(raw: String, expected: String) {
        let got: String
        switch SBOMLicense(raw) {
        case .id(let s)?: got = "id:" + s
        case .expression(let s)?: got = "expression:" + s
        case .name(let s)?: got = "name:" + s
        case nil: got = "nil"
        }
        #expect(got == expected)
    }

    @Test("blank license text is no license; names become stable LicenseRefs")
    func blanksAndRefs() {
        #expect(SBOMLicense("  ") == nil)
        let ref = SBOMLicense("BSD License")!.spdxExpression
        #expect(ref.hasPrefix("LicenseRef-BSD-License-"))
        #expect(ref == SBOMLicense("BSD License")!.spdxExpression)
        #expect(ref != SBOMLicense("BSD_License")!.spdxExpression)
    }

    @Test("purls percent-encode all but unreserved characters")
    func purlEncoding() {
        #expect(SBOMPurl.encode("@hop") == "%40hop")
        #expect(SBOMPurl.encode("v1.5.0+incompatible") == "v1.5.0%2Bincompatible")
        #expect(SBOMPurl.encode("zope-interface_1.0~x") == "zope-interface_1.0~x")
        #expect(SBOMPurl.encode("ü") == "%C3%BC")
    }

    @Test("serial numbers are RFC 4122 version-5 UUIDs (checked against Python's uuid.uuid5)")
    func uuid5() {
        // python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "https://hop.invalid/x"))'
        #expect(SBOMDigest.uuid5(url: "https://hop.invalid/x") == "860fe24c-df99-527d-85e3-557dde47f3f9")
        #expect(SBOMDigest.uuid5(url: "http://python.org/") == "4c565f0d-3f5a-5890-b41b-20cf47701c5e")
    }

    @Test("timestamps are UTC to the second, rounded down")
    func timestamps() {
        #expect(SBOMDigest.timestamp(Date(timeIntervalSince1970: 1_767_225_600.999)) == "2026-01-01T00:00:00Z")
        #expect(SBOMDigest.timestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    }

    @Test("JSON strings escape quotes, backslashes and control characters only")
    func jsonEscaping() {
        var out = ""
        SBOMJSON.quote("a\"b\\c\n\u{01}/é", into: &out)
        #expect(out == "\"a\\\"b\\\\c\\n\\u0001/é\"")
    }
}
