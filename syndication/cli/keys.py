"""`syndication keys generate` and `syndication partners show`: a partner's signing keys, as it may see them.

    syndication keys generate    a new Ed25519 pair: the whsk_ private key (for the variable a
                                 partner's `auth.private_key_env` names) and its whpk_ public key
                                 (for the partner)
    syndication partners show P  the partner's configuration, with the public key(s) it verifies our
                                 pushes with; never a secret, a token or a private key
"""

from __future__ import annotations

import sys

from syndication.cli.common import settings_or_exit


def cmd_keys_generate(args) -> int:
    from syndication.partners import ed25519

    private, public = ed25519.generate()
    print(f"private key (keep it in the environment variable auth.private_key_env names): {private}")
    print(f"public key (give it to the partner, or let it read GET /v1/partners/ID/keys): {public}")
    print(f"key id: {ed25519.key_id(public)}")
    return 0


def cmd_partners_show(args) -> int:
    from syndication.partners.signing import algorithms, public_keys

    settings = settings_or_exit()
    partner = settings.partner(args.partner)
    if partner is None:
        print(f"no partner {args.partner!r} in {settings.partners_file or 'the configuration'}", file=sys.stderr)
        return 2
    target = partner.target
    print(f"partner: {partner.id}")
    print(f"format: {partner.format}")
    print(f"enabled: {'yes' if partner.enabled else 'no'}")
    print(f"pull: {'yes' if partner.pull else 'no'}")
    if target is None:
        print("push: no (pull only)")
        return 0
    auth = target.auth
    print(f"url: {target.url}")
    signed = {"hmac-sha256": "v1 hmac-sha256", "ed25519": "v1a ed25519"}
    print(f"auth: {auth.type}" + (f" ({', '.join(signed[a] for a in algorithms(auth))})" if algorithms(auth) else ""))
    for key in public_keys(settings.secrets_for(partner.id)):
        print(f"public key: {key['public_key']}  ({key['key_id']})")
    return 0


def add_keys(sub) -> None:
    """`keys generate`."""
    keys = sub.add_parser("keys", help="Ed25519 signing keys (Standard Webhooks v1a)") \
        .add_subparsers(dest="sub", required=True)
    keys.add_parser("generate", help="print a new key pair: whsk_ private key, whpk_ public key") \
        .set_defaults(fn=cmd_keys_generate)


def add_partners_show(partners) -> None:
    """`partners show P`."""
    s = partners.add_parser("show", help="a partner's configuration and the public key(s) it verifies pushes with")
    s.add_argument("partner")
    s.set_defaults(fn=cmd_partners_show)
