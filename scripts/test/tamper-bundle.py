"""Makes damaged copies of a hop bundle (pax + zstd) for the promotion tests.

  tamper-bundle.py flip IN OUT                     one byte flipped in the middle of the largest NAR
  tamper-bundle.py resign IN OUT                   the manifest re-signed by a new, untrusted ed25519 key
  tamper-bundle.py swap-provenance IN OUT OTHER KEY
                                                   OTHER's (validly signed) provenance put in, the manifest
                                                   updated to it and re-signed with KEY (hop's key file):
                                                   only the provenance-names-this-closure check can stop it
Members keep their order; the result is compressed with zstd like the original."""
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization


def members(path):
    raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def write(path, items):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:", format=tarfile.PAX_FORMAT) as t:
        for m, data in items:
            m.size = len(data)
            t.addfile(m, io.BytesIO(data))
    out = subprocess.run(["zstd", "-q", "-c"], input=buf.getvalue(), check=True, capture_output=True).stdout
    with open(path, "wb") as f:
        f.write(out)


def pae(payload_type, body):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def resign(envelope_bytes, payload, key):
    env = json.loads(envelope_bytes)
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(pae(env["payloadType"], payload))
    env["payload"] = base64.b64encode(payload).decode()
    env["signatures"] = [{"keyid": hashlib.sha256(pub).hexdigest(), "sig": base64.b64encode(sig).decode()}]
    return json.dumps(env, sort_keys=True, separators=(",", ":")).encode()


def main():
    mode, src, dst = sys.argv[1:4]
    items = members(src)
    names = [m.name for m, _ in items]
    if mode == "flip":
        i = max((k for k, n in enumerate(names) if n.startswith("nar/")), key=lambda k: len(items[k][1]))
        data = bytearray(items[i][1])
        data[len(data) // 2] ^= 0x01
        items[i] = (items[i][0], bytes(data))
    elif mode == "resign":
        i = names.index("hop-bundle.dsse.json")
        env = json.loads(items[i][1])
        items[i] = (items[i][0], resign(items[i][1], base64.b64decode(env["payload"]), Ed25519PrivateKey.generate()))
    elif mode == "swap-provenance":
        other, keyfile = sys.argv[4:6]
        lines = open(keyfile).read().split()
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(lines[1]))
        other_prov = dict((m.name, d) for m, d in members(other))["provenance.dsse.json"]
        p = names.index("provenance.dsse.json")
        items[p] = (items[p][0], other_prov)
        i = names.index("hop-bundle.dsse.json")
        env = json.loads(items[i][1])
        manifest = json.loads(base64.b64decode(env["payload"]))
        manifest["provenanceSHA256"] = hashlib.sha256(other_prov).hexdigest()
        payload = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        items[i] = (items[i][0], resign(items[i][1], payload, key))
    else:
        sys.exit("unknown mode " + mode)
    write(dst, items)


main()
