"""podman: the base image, building the images, and playing Kubernetes YAML on this host.

Where no registry is reachable the base image is made locally: `debootstrap
--variant=minbase --include=python3 bookworm`, without apt's caches, docs and
locales, imported with `podman import` (once; podman keeps it). Everything runs
with `msa.tools.deploy.images.podman_env()`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from msa.errors import ConfigError, MsaError
from msa.tools.deploy.images import ImageSpec, podman_env

DEBIAN_SUITE = "bookworm"


def podman_binary() -> str:
    """The podman executable; ConfigError naming the Debian packages when it is missing."""
    found = shutil.which("podman")
    if found is None:
        raise ConfigError("podman is not installed (Debian: apt-get install podman buildah runc)")
    return found


def podman(*args: str, what: str, timeout: float = 900, check: bool = True) -> str:
    """Run podman; MsaError with its last line of output when it fails."""
    result = subprocess.run([podman_binary(), *args], capture_output=True, text=True,
                            timeout=timeout, env=podman_env())
    if check and result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise MsaError(f"{what} failed: {lines[-1] if lines else 'no output'}")
    return result.stdout


def image_exists(image: str) -> bool:
    return subprocess.run([podman_binary(), "image", "exists", image], env=podman_env(),
                          capture_output=True).returncode == 0


def ensure_base_image(image: str) -> bool:
    """Make `image` with debootstrap unless podman has it; True if it was made now."""
    if image_exists(image):
        return False
    if not image.startswith("localhost/"):
        podman("pull", image, what=f"pulling {image}")
        return True
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ConfigError(f"no {image} and no debootstrap to make it "
                          "(Debian: apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="msa-base-") as folder:
        root = Path(folder) / "root"
        result = subprocess.run(
            [debootstrap, "--variant=minbase", "--include=python3", DEBIAN_SUITE, str(root)],
            capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            raise MsaError(f"debootstrap failed: {lines[-1] if lines else result.stderr.strip()}")
        _trim(root)
        # `with` closes our end of the pipe (left open, it is a leaked file at collection).
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."],
                              stdout=subprocess.PIPE) as tar:
            imported = subprocess.run([podman_binary(), "import", "-", image],
                                      stdin=tar.stdout, capture_output=True, text=True,
                                      env=podman_env(), timeout=900)
        if imported.returncode != 0 or tar.returncode != 0:
            raise MsaError(f"podman import of {image} failed: {imported.stderr.strip()}")
    return True


def _trim(root: Path) -> None:
    """Leave out what no container reads: package caches and lists, docs, manuals, locales."""
    for folder in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                   "usr/share/info", "usr/share/locale"):
        path = root / folder
        if path.is_dir():
            for entry in path.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


def build_images(context: Path, specs: list[ImageSpec], tag: str,
                 base_image: str) -> dict[str, int]:
    """Build every image of `specs` as `localhost/NAME:tag`; image → size in bytes."""
    sizes: dict[str, int] = {}
    for spec in specs:
        reference = f"localhost/{spec.name}:{tag}"
        podman("build", "--quiet", "--layers", "--build-arg", f"BASE_IMAGE={base_image}",
               "--build-arg", f"GIT_SHA={tag}",
               "-t", reference, "-f", str(context / spec.name / "Containerfile"), str(context),
               what=f"building {reference}")
        sizes[reference] = int(podman("image", "inspect", "--format", "{{.Size}}", reference,
                                      what=f"inspecting {reference}").strip())
    return sizes


def remove_images(references: list[str]) -> None:
    """Remove images (those still used by a container are left, quietly)."""
    if references:
        podman("rmi", "--force", *references, what="removing images", check=False)
