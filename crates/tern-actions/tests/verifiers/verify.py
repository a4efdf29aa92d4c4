"""Verify a Tern webhook request the way Flowent's Python sample verifier does.

The sample parses the body, removes `signature`, serializes the rest again
with `json.dumps` (compact separators, keys in the order the body had them,
default `ensure_ascii=True`) and compares HMAC-SHA256 hex digests.

Usage: python3 verify.py HEX_KEY < body
Exits 0 when the signature is valid and 1 when it is not.
"""

import hashlib
import hmac
import json
import sys


def verify(key: bytes, body: bytes) -> bool:
    payload = json.loads(body)
    signature = payload.pop("signature", "")
    message = json.dumps(payload, separators=(",", ":"))
    expected = hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def main() -> int:
    key = bytes.fromhex(sys.argv[1])
    body = sys.stdin.buffer.read()
    if verify(key, body):
        print("valid")
        return 0
    payload = json.loads(body)
    payload.pop("signature", None)
    print("invalid signature; signed text would be:", file=sys.stderr)
    print(json.dumps(payload, separators=(",", ":")), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
