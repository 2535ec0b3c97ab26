#!/usr/bin/env python3
"""Turns infra/rabbitmq/identities.toml into a RabbitMQ definitions file (users, permissions,
topic permissions) for `rabbitmqctl import_definitions` or `load_definitions`.

Each user's password is read from `<passwords-dir>/<user>.password`, made there (random, mode
0600) when missing: the broker stores only salted SHA-256 hashes, the programs that connect read
the files. Prints the definitions JSON on stdout.

    python3 infra/rabbitmq/definitions.py infra/rabbitmq/identities.toml /var/lib/nexgate/broker
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import tomllib

PRODUCER = {
    "configure": "^$",
    "write": r"^amq\.topic$",
    "read": "^$",
    "topic_read": "^$",
}
KEYS = {"tags", "configure", "write", "read", "topic_write", "topic_read"}


def users_of(identities):
    """Every user with its permissions, producers expanded from their service names."""
    users = {}
    for service in identities.get("producers", {}).get("services", []):
        users[f"nexgate-{service}"] = dict(PRODUCER, topic_write=rf"^[^.]+\.{service}\.")
    for name, spec in identities.get("users", {}).items():
        unknown = set(spec) - KEYS
        if unknown:
            sys.exit(f"identities: user {name} has unknown keys {sorted(unknown)}")
        users[name] = spec
    return users


def password_of(directory, user):
    path = os.path.join(directory, f"{user}.password")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24))
    with open(path) as f:
        return f.read().strip()


def password_hash(password):
    """rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def main():
    identities_path, passwords_dir = sys.argv[1], sys.argv[2]
    with open(identities_path, "rb") as f:
        identities = tomllib.load(f)
    os.makedirs(passwords_dir, mode=0o700, exist_ok=True)
    definitions = {"users": [], "permissions": [], "topic_permissions": []}
    for name, spec in sorted(users_of(identities).items()):
        definitions["users"].append(
            {
                "name": name,
                "password_hash": password_hash(password_of(passwords_dir, name)),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [spec["tags"]] if spec.get("tags") else [],
            }
        )
        definitions["permissions"].append(
            {
                "user": name,
                "vhost": "/",
                "configure": spec["configure"],
                "write": spec["write"],
                "read": spec["read"],
            }
        )
        if "topic_write" in spec or "topic_read" in spec:
            definitions["topic_permissions"].append(
                {
                    "user": name,
                    "vhost": "/",
                    "exchange": "amq.topic",
                    "write": spec.get("topic_write", "^$"),
                    "read": spec.get("topic_read", "^$"),
                }
            )
    json.dump(definitions, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
