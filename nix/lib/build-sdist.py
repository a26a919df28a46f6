"""Build one sdist into a wheel offline with its PEP 517 backend (setuptools), as hop's sandbox allows.

usage: build-sdist.py SDIST|DIRECTORY OUTDIR BUILD_WHEEL...   (prints the built wheel's path)
(a directory is a project tree: the app itself, when it is a package)

The build wheels (setuptools, wheel) are unpacked into a private directory on sys.path: no pip,
no network, no isolation environment. Only setuptools backends are supported (sdists without a
pyproject.toml use setuptools' legacy backend, as pip does).
"""
import os
import sys
import tarfile
import tempfile
import tomllib
import zipfile

sdist, outdir, build_wheels = sys.argv[1], sys.argv[2], sys.argv[3:]
work = tempfile.mkdtemp(prefix="hop-sdist-")
deps = os.path.join(work, "deps")
for w in build_wheels:
    with zipfile.ZipFile(w) as z:
        z.extractall(deps)
sys.path.insert(0, deps)

src = os.path.join(work, "src")
if os.path.isdir(sdist):
    import shutil
    shutil.copytree(sdist, os.path.join(src, "project"), symlinks=True)
elif sdist.endswith(".zip"):
    with zipfile.ZipFile(sdist) as z:
        z.extractall(src)
else:
    with tarfile.open(sdist) as t:
        # Regular files and directories only, inside src (Python 3.11.2 has no extraction filters).
        for m in t.getmembers():
            parts = m.name.split("/")
            if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
                continue
            t.extract(m, src, set_attrs=False)
(top,) = [os.path.join(src, d) for d in os.listdir(src)]

backend = "setuptools.build_meta:__legacy__"
pyproject = os.path.join(top, "pyproject.toml")
if os.path.exists(pyproject):
    with open(pyproject, "rb") as f:
        backend = tomllib.load(f).get("build-system", {}).get("build-backend", backend)
if not backend.startswith("setuptools.build_meta"):
    sys.exit(f"hop: {os.path.basename(sdist)} builds with {backend}; hop builds sdists with setuptools only")

os.chdir(top)
sys.path.insert(0, top)
module, _, attr = backend.partition(":")
hooks = __import__(module, fromlist=["build_wheel"])
if attr:
    hooks = getattr(hooks, attr)
# stdout is the wheel path for the caller: the backend's chatter goes to stderr.
real_stdout = sys.stdout
sys.stdout = sys.stderr
os.makedirs(outdir, exist_ok=True)
name = hooks.build_wheel(os.path.abspath(outdir))
real_stdout.write(os.path.join(os.path.abspath(outdir), name) + "\n")
