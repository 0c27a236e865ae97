"""`ipass keys`: the merchant key pair (the use case is imported lazily: no crypto at startup)."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.context import options


@click.group(name="keys")
def keys() -> None:
    """Manage the merchant key pair that signs requests to AlipayHK."""


@keys.command(name="generate")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the two PEM files [default: .ipass/keys in the project]. A folder it "
    "creates (mode 0700) gets a .gitignore holding '*'; an existing folder inside a git work "
    "tree must be one git ignores.",
)
def generate(out_dir: Path | None) -> None:
    """Create a new RSA-2048 merchant key pair; never overwrites an existing key.

    Writes merchant_private_key.pem (PKCS#8, mode 0600: keep it secret, store it as a
    CI secret, never commit it) and merchant_public_key.pem, then prints the public key on
    stdout as one line of base64 (the DER SubjectPublicKeyInfo, no PEM armour). Never
    writes through a symbolic link, nor where `git add .` would take the private key.

    Paste that line into the AlipayHK merchant console, in the key settings of your
    Client-Id where the merchant (your) public key is uploaded. Note the keyVersion the
    console assigns and put it in ipass.toml. From the same page, copy the AlipayHK
    platform public key: ipass verifies every response with it.
    """
    from reconciler.usecases.keys import generate_merchant_keys

    folder = out_dir if out_dir is not None else options().project_dir / ".ipass" / "keys"
    created = generate_merchant_keys(folder)
    if created.ignore_file is not None:
        click.echo(f"wrote {created.ignore_file} (git ignores this folder)", err=True)
    click.echo(f"wrote {created.private_key_path} (mode 0600; keep it secret)", err=True)
    click.echo(f"wrote {created.public_key_path}", err=True)
    click.echo("public key for the AlipayHK console (one line):", err=True)
    click.echo(created.console_public_key)
