"""The `pizza-api` command: serve, database, clients, users and tokens."""

import argparse
import datetime as dt
import json
import shutil
import sys

from pizza_api import __version__
from pizza_api.deploy import cli as deploy_cli

ROLES = ("admin", "user")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from sqlalchemy.exc import DBAPIError

    from pizza_api.migrate import SchemaError
    from pizza_api.server import PortInUseError
    from pizza_api.settings import SettingsError

    if args.run is not cmd_serve:
        from pizza_api.logs import configure_cli_logging

        configure_cli_logging()
    try:
        return args.run(args) or 0
    except (SettingsError, PortInUseError, SchemaError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(
            f"error: database command failed: {first_line}; check DATABASE_URL and "
            "that the schema is current (`pizza-api db upgrade`)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


class CommandError(RuntimeError):
    """A command failed for a reason the user can fix; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pizza-api",
        description="Pizza API service and operations tool. Settings come from the environment.",
    )
    parser.add_argument("--version", action="version", version=f"pizza-api {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="prepare the database and serve the API")
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: WEB_CONCURRENCY or 2)"
    )
    serve.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        help="restart on code changes with a single uvicorn process (default: on in development)",
    )
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(metavar="ACTION")
    upgrade = db.add_parser("upgrade", help="apply migrations up to the latest revision")
    upgrade.set_defaults(run=cmd_db_upgrade)
    current = db.add_parser("current", help="print the schema revision and the latest one")
    current.set_defaults(run=cmd_db_current)
    backup = db.add_parser("backup", help="write a backup of the database to PATH")
    backup.add_argument("path", help="backup file to write")
    backup.add_argument(
        "--format",
        choices=("custom", "plain"),
        default="custom",
        help="pg_dump format for PostgreSQL (default: custom); other databases ignore it",
    )
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.set_defaults(run=cmd_db_backup)
    restore = db.add_parser("restore", help="load a backup from PATH into an empty database")
    restore.add_argument("path", help="backup file written by `pizza-api db backup`")
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace the content of a database that already has tables",
    )
    restore.set_defaults(run=cmd_db_restore)

    clients = commands.add_parser("clients", help="OAuth clients").add_subparsers(metavar="ACTION")
    create = clients.add_parser("create", help="create a client and print its secret once")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument(
        "--role", choices=ROLES, default="admin", help="role of the owner (default: admin)"
    )
    create.add_argument(
        "--email",
        help="owner's email; created with --role when missing "
        "(default: system@pizza.com for admin, user@pizza.com for user)",
    )
    create.add_argument("--client-id", help="client id (default: a random UUID)")
    create.add_argument("--scopes", default="read write", help="space-separated scopes")
    create.set_defaults(run=cmd_clients_create)
    listing = clients.add_parser("list", help="list live clients of every owner")
    listing.set_defaults(run=cmd_clients_list)
    delete = clients.add_parser("delete", help="soft-delete a client; its tokens stop working")
    delete.add_argument("client_id")
    delete.set_defaults(run=cmd_clients_delete)

    users = commands.add_parser("users", help="users that own clients").add_subparsers(
        metavar="ACTION"
    )
    users.add_parser("list", help="list users with their roles").set_defaults(run=cmd_users_list)
    set_role = users.add_parser("set-role", help="change a user's role; takes effect at once")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=ROLES)
    set_role.set_defaults(run=cmd_users_set_role)

    token = commands.add_parser("token", help="access tokens").add_subparsers(metavar="ACTION")
    decode = token.add_parser(
        "decode",
        help="print a token's header and claims, and why this JWT_SECRET rejects it "
        "(exit status 1 when rejected)",
    )
    decode.add_argument("token", help="the JWT, or - to read it from standard input")
    decode.add_argument(
        "--no-verify",
        action="store_true",
        help="print the claims without checking the signature against JWT_SECRET",
    )
    decode.set_defaults(run=cmd_token_decode)

    deploy_cli.register(commands)
    return parser


def _settings():
    from pizza_api.settings import Settings

    return Settings.from_env()


def _database(settings=None):
    from pizza_api.db import Database

    return Database(settings or _settings())


def cmd_serve(args) -> int:
    from pizza_api import server
    from pizza_api.logs import configure_logging

    settings = _settings()
    configure_logging(settings)
    reload = settings.is_development if args.reload is None else args.reload
    workers = args.workers or settings.workers
    server.check_port_free(settings.host, settings.port)
    metrics_dir = server.prepare_metrics_dir()
    try:
        # Imported only now: they import prometheus_client, which reads the directory.
        from pizza_api import asgi, startup

        if settings.sentry_dsn:
            # Workers initialise Sentry; a missing extra should stop the start here.
            asgi.require_sentry_sdk()
        db = _database(settings)
        try:
            startup.prepare_database(settings, db)
        finally:
            db.dispose()
        server.serve(settings, workers=1 if reload else workers, reload=reload)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def cmd_db_upgrade(args) -> int:
    from pizza_api import migrate

    before, after = migrate.upgrade(_database())
    print(f"schema revision: {before or 'none'} -> {after}")
    return 0


def cmd_db_current(args) -> int:
    from pizza_api import migrate

    current, head = migrate.current_revision(_database()), migrate.head_revision()
    print(f"current: {current or 'none'}\nlatest:  {head}")
    return 0 if current == head else 3


def cmd_db_backup(args) -> int:
    from pizza_api import backup

    settings = _settings()
    try:
        size = backup.backup(
            settings.database_url, args.path, pg_format=args.format, force=args.force
        )
    except backup.BackupError as exc:
        raise CommandError(str(exc)) from None
    print(f"backup written to {args.path} ({size} bytes)")
    return 0


def cmd_db_restore(args) -> int:
    from pizza_api import backup, migrate

    settings = _settings()
    try:
        backup.restore(settings.database_url, args.path, force=args.force)
    except backup.BackupError as exc:
        raise CommandError(str(exc)) from None
    db = _database(settings)
    try:
        current, head = migrate.current_revision(db), migrate.head_revision()
    finally:
        db.dispose()
    print(f"restored {args.path}; schema revision {current or 'none'} (latest: {head})")
    return 0


def cmd_clients_create(args) -> int:
    from pizza_api import clients, security
    from pizza_api.seed import SYSTEM_EMAIL, get_or_create_user

    settings = _settings()
    email = args.email or (SYSTEM_EMAIL if args.role == "admin" else "user@pizza.com")
    secret = clients.generate_secret()
    secret_hash = security.hash_secret(secret, settings.bcrypt_rounds)
    with _database(settings).session() as session:
        owner = get_or_create_user(session, email, f"{args.role.title()} User", args.role)
        if owner.role != args.role:
            raise CommandError(
                f"user {email} has role {owner.role}, not {args.role}; "
                f"use `pizza-api users set-role {email} {args.role}` or another --email"
            )
        if args.client_id and session.get(clients.OAuthClient, args.client_id) is not None:
            raise CommandError(f"client id {args.client_id!r} is taken (ids are never reused)")
        client = clients.create_client(
            session,
            owner_id=owner.id,
            name=args.name,
            secret_hash=secret_hash,
            client_id=args.client_id,
            scopes=args.scopes,
        )
        client_id = client.id
    print(
        f"client_id:     {client_id}\nclient_secret: {secret}\nrole:          {args.role} ({email})"
    )
    print("The secret is shown only now; store it in your secret manager.", file=sys.stderr)
    return 0


def cmd_clients_list(args) -> int:
    from pizza_api import clients

    with _database().session(read_only=True) as session:
        rows = [
            (c.id, c.name, str(c.user_id), c.scopes, c.created_at.isoformat())
            for c in clients.list_clients(session)
        ]
    _print_table(("CLIENT_ID", "NAME", "USER_ID", "SCOPES", "CREATED_AT"), rows)
    return 0


def cmd_clients_delete(args) -> int:
    from pizza_api import clients
    from pizza_api.errors import ApiError

    try:
        with _database().session() as session:
            clients.delete_client(session, args.client_id, owner_id=None)
    except ApiError:
        raise CommandError(f"no live client with id {args.client_id!r}") from None
    print(f"deleted client {args.client_id}")
    return 0


def cmd_users_list(args) -> int:
    from sqlalchemy import select

    from pizza_api.models import User

    with _database().session(read_only=True) as session:
        rows = [
            (str(u.id), u.email, u.name, u.role)
            for u in session.scalars(select(User).order_by(User.id))
        ]
    _print_table(("ID", "EMAIL", "NAME", "ROLE"), rows)
    return 0


def cmd_users_set_role(args) -> int:
    from sqlalchemy import select

    from pizza_api.models import User, utcnow

    with _database().session() as session:
        user = session.scalars(select(User).where(User.email == args.email)).first()
        if user is None:
            raise CommandError(f"no user with email {args.email!r}; see `pizza-api users list`")
        before, user.role, user.updated_at = user.role, args.role, utcnow()
    print(f"{args.email}: role {before} -> {args.role}")
    return 0


def cmd_token_decode(args) -> int:
    import jwt

    token = sys.stdin.read().strip() if args.token == "-" else args.token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        raise CommandError(f"not a JWT: {exc}") from None
    verdict, rejected = "not checked (--no-verify)", False
    if not args.no_verify:
        settings = _settings()
        reason = _token_rejection(token, header, settings)
        rejected = reason is not None
        verdict = (
            f"rejected: {reason}"
            if rejected
            else (
                "valid for this JWT_SECRET (the API also requires its client to be live: "
                "see `pizza-api clients list`)"
            )
        )
    print(json.dumps({"header": header, "claims": claims}, indent=2, sort_keys=True))
    for claim in ("iat", "exp"):
        if isinstance(claims.get(claim), int):
            moment = dt.datetime.fromtimestamp(claims[claim], dt.UTC)
            print(f"{claim}: {moment.isoformat()}")
    print(f"signature: {verdict}")
    return 1 if rejected else 0


def _token_rejection(token: str, header: dict, settings) -> str | None:
    """Return why the API would reject `token` before looking at its client, or None."""
    import jwt

    from pizza_api.errors import OAuthError
    from pizza_api.security import JWT_ALGORITHM, decode_token

    if header.get("alg") != JWT_ALGORITHM:
        return f"invalid_token: algorithm {header.get('alg')!r}; only {JWT_ALGORITHM} is accepted"
    try:
        jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[JWT_ALGORITHM],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidSignatureError:
        return "invalid_token: the signature does not match this JWT_SECRET"
    except jwt.InvalidTokenError:
        pass  # decode_token below names the claim that is wrong
    try:
        decode_token(token, secret=settings.jwt_secret, issuer=settings.jwt_issuer)
    except OAuthError as exc:
        return f"{exc.body['error']}: {exc.body.get('error_description')}"
    return None


def _print_table(header: tuple, rows: list) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


if __name__ == "__main__":
    sys.exit(main())
