"""`msa deploy`: Kubernetes manifests and container images from system.toml.

    msa deploy render [--env dev|prod] [--out deploy/k8s] [--tag SHA]
    msa deploy images [--out build/images]     # Containerfiles, requirements, wheels
    msa deploy try                              # build, `podman kube play` the dev overlay
"""

from __future__ import annotations

from pathlib import Path

import typer

from msa.errors import ConfigError
from msa.tools.commands import cli_context, console

deploy_app = typer.Typer(help="Render Kubernetes manifests and container images.",
                         no_args_is_help=True)

DEFAULT_OUT = Path("deploy") / "k8s"


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")


@deploy_app.command("render")
def render(
    ctx: typer.Context,
    env: list[str] = typer.Option(
        [], "--env", help="Overlay to render: dev or prod (repeatable; default: both)."),
    out: Path | None = typer.Option(
        None, "--out", file_okay=False, help="Output folder (default: deploy/k8s beside "
        "system.toml)."),
    tag: str = typer.Option("unreleased", "--tag", help="Image tag, e.g. the git sha."),
) -> None:
    """Write the kustomize base, components and overlays (all or nothing)."""
    from msa.tools.deploy import ENVIRONMENTS, RenderOptions, render_tree, write_tree

    system = cli_context(ctx).system()
    environments = tuple(env) or ENVIRONMENTS
    tree = render_tree(system, RenderOptions(environments=environments, tag=tag))
    target = out if out is not None else system.root / DEFAULT_OUT
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder")
    write_tree(tree, target)
    console.print(f"wrote {len(tree)} files to {target} ({', '.join(environments)})")


@deploy_app.command("nats-secrets")
def nats_secrets(
    ctx: typer.Context,
    namespace: str | None = typer.Option(None, "--namespace", help="Namespace of the Secrets."),
) -> None:
    """Print fresh NATS passwords as Secrets (`| kubectl apply -f -`): the servers' and
    each service's. Nothing is written; run it once per cluster."""
    from msa.tools.deploy.stores import nats_secrets as make
    from msa.tools.monitoring.render import to_yaml

    system = cli_context(ctx).system()
    text = to_yaml({"apiVersion": "v1", "kind": "List", "items": make(system, namespace)})
    print(text.partition("\n")[2] if text.startswith("#") else text, end="")  # not generated


def git_tag(root: Path) -> str:
    """The image tag: the checkout's short sha, `-dirty` when it has uncommitted changes."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        raise ConfigError(f"{root} is not a git checkout: give --tag")
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


@deploy_app.command("images")
def images(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", file_okay=False, help="Build folder (default: build/images)."),
    build: bool = typer.Option(False, "--build", help="Also build the images with podman."),
    tag: str | None = typer.Option(None, "--tag", help="Image tag (default: the git sha)."),
    base_image: str = typer.Option(
        "localhost/msa-python:bookworm", "--base-image",
        help="The base image (a localhost/ one is made with debootstrap when missing)."),
) -> None:
    """Write one Containerfile per service (and the wheels they install); --build builds them."""
    from msa.tools.deploy.images import write_context
    from msa.tools.deploy.layout import RenderOptions, check_renderable

    system = cli_context(ctx).system()
    tag = tag or git_tag(system.root)
    check_renderable(system, RenderOptions(tag=tag))
    target = out if out is not None else system.root / "build" / "images"
    specs = write_context(system, target, base_image)
    console.print(f"wrote {len(specs)} Containerfiles to {target}")
    if build:
        from msa.tools.deploy.podman import build_images, ensure_base_image

        if ensure_base_image(base_image):
            console.print(f"made the base image {base_image}")
        for reference, size in build_images(target, specs, tag, base_image).items():
            console.print(f"{reference}  {size / 1e6:.0f} MB")


@deploy_app.command("try")
def try_(
    ctx: typer.Context,
    tag: str | None = typer.Option(None, "--tag", help="Image tag (default: the git sha)."),
    keep_images: bool = typer.Option(False, "--keep-images",
                                     help="Leave the built images in podman's store."),
    stay: bool = typer.Option(False, "--stay", help="Keep it running until Ctrl-C."),
) -> None:
    """Build the images and run the dev overlay with `podman kube play`; stop it all after."""
    import time

    from msa.tools.deploy.trial import Trial

    system = cli_context(ctx).system()
    trial = Trial(system, tag or git_tag(system.root))
    try:
        for reference, size in trial.build().items():
            console.print(f"built {reference}  {size / 1e6:.0f} MB")
        trial.up()
        console.print(f"ready in {trial.seconds_to_ready:.1f} s: {trial.gateway_url}")
        console.print(f"not honoured by podman: {', '.join(trial.not_honoured)}")
        while stay:
            time.sleep(1)
    finally:
        trial.down(remove_images=not keep_images)
