"""`syndication publish FILE...`: post event files to the API and print each outcome."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from syndication.cli.common import LOCAL_DEV_KEY


def cmd_publish(args) -> int:
    import requests

    key = args.key or os.environ.get("SYNDICATION_API_KEY") or \
        (os.environ.get("SYNDICATION_API_KEYS") or LOCAL_DEV_KEY).split(",")[0].strip()
    url = args.url.rstrip("/") + "/v1/events"
    worst = 0
    session = requests.Session()
    for name in args.files:
        try:
            body = Path(name).read_bytes()
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        try:
            resp = session.post(url, data=body, timeout=(3, 30), headers={
                "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        except requests.RequestException as exc:
            print(f"{name}: cannot reach {url}: {exc}", file=sys.stderr)
            return 1
        try:
            data = resp.json()
        except ValueError:
            data = {"detail": resp.text[:200]}
        if resp.status_code in (200, 202):
            note = "accepted" if resp.status_code == 202 else "already accepted (repeat)"
            print(f"{name}: {resp.status_code} {note} event_id={data.get('event_id')}")
        else:
            print(f"{name}: {resp.status_code} {data.get('detail', data)}", file=sys.stderr)
            worst = max(worst, 2 if 400 <= resp.status_code < 500 else 1)
    return worst


