"""`ipass doctor`: dispatch to the doctor use case and print its findings, one line each."""

from __future__ import annotations

import click

from reconciler.cli.catalog import env_option
from reconciler.cli.context import options
from reconciler.domain.text import printable

_WIDTH = len("problem") + 2


@click.command()
@env_option
@click.option(
    "--online",
    is_flag=True,
    help="Also send one signed createPass that cannot create anything (a templateCode that "
    "does not exist), to prove the credentials and the platform key and to measure the clock.",
)
def doctor(environment: str | None, online: bool) -> int:
    """Check everything a first `ipass apply` needs, and list every problem at once.

    Each check prints `ok|warning|problem  CHECK: DETAIL`; a problem adds a hint.
    Only --online uses the network, and it creates nothing at AlipayHK.

    \b
      settings      ipass.toml readable and complete for the environment
      merchant key  present, not readable by others, passphrase set, decryptable,
                    RSA >= 2048 bits (or EC secp224r1 for ECC224)
      platform key  present and an RSA public key
      state         the state file and its journal load; the folder is writable
      lock          free (if held, who holds it)
      outcomes      no create whose outcome is unknown
      credentials   with --online: AlipayHK accepts the Client-Id and merchant key, and
                    its answer verifies with the platform key
      clock         with --online: this machine's clock against AlipayHK's Response-Time

    \b
    Exit codes (with problems of several kinds, the first of 6, 3, 5, 1):
      0  no problems (warnings allowed)
      6  a credentials or key problem
      3  the lock is held, or the state is damaged
      5  a create's outcome is unknown: settle it before apply
      1  a settings, state-folder, endpoint or clock problem
    """
    from reconciler.usecases.doctor import diagnose

    report = diagnose(options().project_dir, environment, online=online)
    for finding in report.findings:
        click.echo(printable(f"{finding.severity:<{_WIDTH}}{finding.check}: {finding.detail}"))
        if finding.hint:
            click.echo(printable(f"{'':<{_WIDTH}}hint: {finding.hint}"))
    problems = _count(len(report.problems), "problem")
    warnings = _count(len(report.warnings), "warning")
    again = "ipass doctor" + (f" --env {environment}" if environment else "")
    again += " --online" if online else ""
    if report.problems:
        click.echo(printable(f"{problems}, {warnings}: fix each problem, then run `{again}` again"))
    else:
        apply = "ipass apply" + (f" --env {environment}" if environment else "")
        click.echo(printable(f"no problems, {warnings}: ready for `{apply}`"))
    return int(report.exit_code)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
