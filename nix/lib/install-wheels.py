"""Install wheels into a venv offline, deterministically (no pip, no bytecode, sorted order).

usage: install-wheels.py OUT PYVERSION WHEEL...
"""
import configparser
import os
import sys
import zipfile

out, pyver, wheels = sys.argv[1], sys.argv[2], sys.argv[3:]
site = os.path.join(out, "lib", "python" + pyver, "site-packages")
bindir = os.path.join(out, "bin")
python = os.path.join(bindir, "python" + pyver)


def write(dest, data, executable):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        raise SystemExit(f"install-wheels: {dest} is provided by two wheels")
    with open(dest, "wb") as f:
        f.write(data)
    os.chmod(dest, 0o755 if executable else 0o644)


def fix_shebang(data):
    if data.startswith(b"#!python"):
        return b"#!" + python.encode() + data[data.index(b"\n"):]
    return data


for whl in sorted(wheels, key=os.path.basename):
    with zipfile.ZipFile(whl) as z:
        data_dir = None
        for n in z.namelist():
            top = n.split("/", 1)[0]
            if top.endswith(".data"):
                data_dir = top
        entry_points = None
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            name = info.filename
            if name.endswith("/"):
                continue
            if ".." in name.split("/") or name.startswith("/"):
                raise SystemExit(f"install-wheels: {os.path.basename(whl)}: unsafe path {name}")
            data = z.read(info)
            executable = bool((info.external_attr >> 16) & 0o111)
            if data_dir and name.startswith(data_dir + "/"):
                kind, rest = name[len(data_dir) + 1:].split("/", 1)
                if kind in ("purelib", "platlib"):
                    write(os.path.join(site, rest), data, executable)
                elif kind == "scripts":
                    write(os.path.join(bindir, rest), fix_shebang(data), True)
                elif kind == "data":
                    write(os.path.join(out, rest), data, executable)
                elif kind == "headers":
                    write(os.path.join(out, "include", rest), data, False)
                continue
            if name.endswith(".dist-info/entry_points.txt"):
                entry_points = data.decode()
            write(os.path.join(site, name), data, executable)
        if entry_points:
            cp = configparser.ConfigParser(interpolation=None)
            cp.optionxform = str
            cp.read_string(entry_points)
            if cp.has_section("console_scripts"):
                for script, target in sorted(cp.items("console_scripts")):
                    module, _, attr = target.partition(":")
                    attr = attr.split("[")[0].strip()
                    head = attr.split(".")[0]
                    text = (f"#!{python}\nimport sys\nfrom {module.strip()} import {head}\n"
                            f"if __name__ == '__main__':\n    sys.exit({attr}())\n")
                    write(os.path.join(bindir, script), text.encode(), True)
print(f"install-wheels: {len(wheels)} wheels into {site}")
