#!/usr/bin/env python3
"""Writes a corpus of hostile hop backup archives for the restore tests.

Each archive is what an attacker who can write to backup storage could make if they also held
hop's keys: encrypted to the machine's age recipient, its manifest listing every member exactly
(sizes, modes, sha256) and signed with the machine's ed25519 key. So neither decryption, nor the
signature, nor the checksums stop it: only the extraction rules can. Every member that tries to
escape aims at SENTINEL (a directory the test watches).

usage: hostile-backups.py HOP_HOME APP SENTINEL OUTDIR
"""
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

home, app, sentinel, outdir = sys.argv[1:5]
os.makedirs(outdir, exist_ok=True)

key_lines = open(os.path.join(home, "keys/provenance.key")).read().split("\n")
assert key_lines[0] == "hop-ed25519-private-key-v1"
raw = base64.b64decode(key_lines[1])
signer = Ed25519PrivateKey.from_private_bytes(raw)
pub = signer.public_key().public_bytes_raw()
keyid = hashlib.sha256(pub).hexdigest()
recipient = subprocess.run(["age-keygen", "-y", os.path.join(home, "keys/backup.age")],
                           check=True, capture_output=True, text=True).stdout.split("\n")[0]

PAYLOAD_TYPE = "application/vnd.hop.backup-manifest+json"


def pae(t, body):
    return b"DSSEv1 %d %s %d %s" % (len(t), t.encode(), len(body), body)


class Archive:
    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
        self.members = []
        self.directory("meta")
        self.file("meta/config.json", b'{"config": {}, "generated": {}}')
        self.directory("state")

    def add(self, info, data=None, listed=True, manifest_size=None, manifest_sha256=None):
        self.tar.addfile(info, io.BytesIO(data) if data is not None else None)
        if not listed:
            return
        name = info.name if isinstance(info.name, str) else info.name
        kind = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "directory", tarfile.SYMTYPE: "symlink"}.get(info.type, "file")
        m = {"path": name, "kind": kind, "size": (manifest_size if manifest_size is not None else len(data or b"")) if kind == "file" else 0,
             "mode": info.mode & 0o7777}
        if kind == "file":
            m["sha256"] = manifest_sha256 or hashlib.sha256(data or b"").hexdigest()
        if kind == "symlink":
            m["target"] = info.linkname
        self.members.append(m)

    def directory(self, name, mode=0o755):
        i = tarfile.TarInfo(name)
        i.type = tarfile.DIRTYPE
        i.mode = mode
        self.add(i)

    def file(self, name, data, mode=0o644, **kw):
        i = tarfile.TarInfo(name)
        i.size = len(data)
        i.mode = mode
        self.add(i, data, **kw)

    def special(self, name, type_, linkname="", mode=0o644, **kw):
        i = tarfile.TarInfo(name)
        i.type = type_
        i.linkname = linkname
        i.mode = mode
        if type_ in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            i.devmajor, i.devminor = 1, 3
        self.add(i, None, **kw)

    def finish(self, path, after_manifest=None):
        manifest = {"format": "hop-backup/1", "id": os.path.basename(path).split(".")[0], "app": app,
                    "createdAt": "2026-12-05T00:00:00Z", "hopVersion": "0.1.0", "addons": [], "members": self.members,
                    "skipped": [], "changed": []}
        payload = json.dumps(manifest).encode()
        sig = signer.sign(pae(PAYLOAD_TYPE, payload))
        env = json.dumps({"payload": base64.b64encode(payload).decode(), "payloadType": PAYLOAD_TYPE,
                          "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}]}).encode()
        i = tarfile.TarInfo("hop-backup-manifest.dsse.json")
        i.size = len(env)
        i.mode = 0o644
        self.tar.addfile(i, io.BytesIO(env))
        if after_manifest:
            after_manifest(self)
        self.tar.close()
        zst = subprocess.run(["zstd", "-q", "-c"], input=self.buf.getvalue(), check=True, capture_output=True).stdout
        subprocess.run(["age", "-e", "-r", recipient, "-o", path], input=zst, check=True)


cases = {}


def case(name):
    def register(f):
        cases[name] = f
        return f
    return register


@case("absolute-path")
def _(a): a.file(sentinel + "/pwned-absolute", b"x")


@case("dotdot")
def _(a): a.file("state/../../../../../../.." + sentinel + "/pwned-dotdot", b"x")


@case("symlink-then-write-through")
def _(a):
    a.special("state/link", tarfile.SYMTYPE, linkname=sentinel)
    a.file("state/link/pwned-symlink", b"x")


@case("symlinked-dir-deep-write")
def _(a):
    a.special("state/d", tarfile.SYMTYPE, linkname=sentinel)
    a.file("state/d/sub/pwned-deep", b"x")


@case("hardlink-to-etc")
def _(a): a.special("state/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")


@case("hardlink-to-sentinel-then-write")
def _(a):
    a.special("state/h", tarfile.LNKTYPE, linkname=sentinel + "/keep")
    a.file("state/h", b"overwritten through a hard link")


@case("device-node")
def _(a): a.special("state/null", tarfile.CHRTYPE, mode=0o666)


@case("fifo")
def _(a): a.special("state/fifo", tarfile.FIFOTYPE)


@case("larger-than-manifest")
def _(a): a.file("state/big", os.urandom(2 << 20), manifest_size=16)


@case("duplicate-names")
def _(a):
    a.file("state/same", b"first")
    a.file("state/same", b"second")


@case("path-of-10000-chars")
def _(a): a.file("state/" + "/".join(["d" * 99] * 100), b"x")


@case("non-utf8-name")
def _(a): a.file("state/\udcff\udcfe-name", b"x")


@case("setuid-file")
def _(a): a.file("state/suid", b"#!/bin/sh\n", mode=0o4755)


@case("outside-state-addons-meta")
def _(a): a.file("etc/cron.d/pwned", b"* * * * * root touch " + sentinel.encode() + b"/pwned-cron\n")


@case("dot-component")
def _(a): a.file("state/./x", b"x")


@case("checksum-of-the-last-member")
def _(a):
    # Every member but the last one is what the manifest lists: only reading to the end tells.
    a.file("state/first", os.urandom(1 << 20))
    a.file("state/z-last", b"not what was backed up", manifest_sha256=hashlib.sha256(b"what was backed up").hexdigest())


@case("member-not-in-manifest")
def _(a): a.file("state/unlisted", b"x", listed=False)


def trailing(a):
    i = tarfile.TarInfo("state/after-manifest")
    i.size = 1
    a.tar.addfile(i, io.BytesIO(b"x"))


for name, build in cases.items():
    a = Archive()
    build(a)
    a.finish(os.path.join(outdir, name + ".tar.zst.age"))

a = Archive()
a.finish(os.path.join(outdir, "member-after-manifest.tar.zst.age"), after_manifest=trailing)
print(len(cases) + 1)
