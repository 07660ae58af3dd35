"""`msa deploy`: Kubernetes manifests and container images from system.toml.

    msa deploy render [--env dev|prod] [--out deploy/k8s] [--tag SHA]
    msa deploy images [--out build/images]     # Containerfiles, requirements, wheels
    msa deploy try                              # build, `podman kube play` the dev overlay
"""

from __future__ import annotations

from pathlib import Path

import typer

from msa.commands import cli_context, console
from msa.errors import ConfigError

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
    from msa.deploy import ENVIRONMENTS, RenderOptions, render_tree, write_tree

    system = cli_context(ctx).system()
    environments = tuple(env) or ENVIRONMENTS
    tree = render_tree(system, RenderOptions(environments=environments, tag=tag))
    target = out if out is not None else system.root / DEFAULT_OUT
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder")
    write_tree(tree, target)
    console.print(f"wrote {len(tree)} files to {target} ({', '.join(environments)})")
