"""The console's command-line entries: ``newcomer-bot staff`` and ``newcomer-bot staff-user``.

Heavy imports wait until a command runs, so the other commands start as fast as before.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.settings import Settings

ROLE_CHOICES = ("translator", "reviewer", "admin")


def add_commands(commands: Any) -> None:
    """Register the subcommands on the ``newcomer-bot`` parser's subparsers object."""
    staff = commands.add_parser("staff", help="start the staff console (a small website, 127.0.0.1:8080 by default)")
    staff.set_defaults(handler=_staff)

    users = commands.add_parser("staff-user", help="manage staff console accounts")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create or replace an account (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLE_CHOICES)
    add.add_argument("--languages", default="", help="comma-separated language codes (required for translators)")
    add.add_argument("--city", default="", help="comma-separated cities this account works on (default: all)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    add.set_defaults(handler=_add_user)
    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove_user)
    listing = actions.add_parser("list", help="show the accounts (never the passwords)")
    listing.set_defaults(handler=_list_users)


def _staff(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff_console.app import run_console

    run_console(settings)
    return 0


def _add_user(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff_console.accounts import AccountError, UserStore

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Same password again: ") != password:
            print("newcomer-bot: the two passwords differ", file=sys.stderr)
            return 1
    try:
        user = UserStore(settings.staff_users_file).add(
            args.name, args.role, password, _codes(args.languages), _codes(args.city)
        )
    except AccountError as exc:
        print(f"newcomer-bot: {exc}", file=sys.stderr)
        return 1
    print(f"Saved {user.name} ({user.role}) in {settings.staff_users_file}")
    return 0


def _remove_user(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff_console.accounts import UserStore

    if not UserStore(settings.staff_users_file).remove(args.name):
        print(f"newcomer-bot: no account called {args.name!r}", file=sys.stderr)
        return 1
    print(f"Removed {args.name}")
    return 0


def _list_users(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff_console.accounts import UserStore

    for user in UserStore(settings.staff_users_file).users():
        languages = ",".join(user.languages) or "all languages"
        cities = ",".join(user.cities) or "all cities"
        print(f"{user.name}\t{user.role}\t{languages}\t{cities}")
    return 0


def _codes(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())
