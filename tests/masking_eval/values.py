"""Fresh, valid-looking values: the secrets to plant and their benign look-alikes.

Every value is drawn from the ``random.Random`` given, in the real format's
shape (lengths, alphabets, prefixes, checksums where a format has one, the
binary layout of SSH and DER public keys); none is a real credential, and none
is a value the maskers could special-case.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import struct
import uuid

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
# The punctuation issue #17 lists for secrets that were never copied-masked.
PUNCTUATION = "&@:=,;()[]{}<>|'\"` "
WORDS = (
    "checkout", "payments", "orders", "billing", "search", "catalog", "ledger", "gateway",
    "inventory", "reports", "notify", "identity", "shipping", "pricing", "audit", "mobile",
)  # fmt: skip
PEOPLE = ("ana", "bruno", "chen", "dara", "emeka", "farah", "goran", "hana", "ivo", "jun")


def rand(rng: random.Random, alphabet: str, size: int) -> str:
    """A random string that, over letters and digits, always mixes the classes."""
    while True:
        out = "".join(rng.choice(alphabet) for _ in range(size))
        if alphabet != ALNUM or size < 10:
            return out
        if (
            any(c.isdigit() for c in out)
            and any(c.islower() for c in out)
            and any(c.isupper() for c in out)
        ):
            return out


def word(rng: random.Random) -> str:
    return rng.choice(WORDS)


def service(rng: random.Random) -> str:
    return f"{word(rng)}-{rng.choice(('api', 'worker', 'web', 'svc', 'job'))}"


# -- secrets ---------------------------------------------------------------------------


def password(rng: random.Random, size: int | None = None) -> str:
    """A generated password: letters, digits and a little punctuation."""
    size = size or rng.randint(14, 24)
    alphabet = ALNUM * 3 + "!#%*+-._~^"
    while True:
        out = rand(rng, alphabet, size)
        if any(c.isdigit() for c in out) and any(c.isalpha() for c in out):
            return out


def punctuated_password(rng: random.Random) -> str:
    """A password holding at least two of the characters copies used to be split at."""
    core = list(password(rng, rng.randint(12, 18)))
    for mark in rng.sample(PUNCTUATION, 2):
        core.insert(rng.randint(1, len(core) - 1), mark)
    return "".join(core).strip()


def aws_key_id(rng: random.Random) -> str:
    return rng.choice(("AKIA", "ASIA")) + rand(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)


def aws_secret(rng: random.Random) -> str:
    return rand(rng, B64, 40)


def gcp_api_key(rng: random.Random) -> str:
    return "AIza" + rand(rng, ALNUM + "-_", 35)


def azure_storage_key(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(64)).decode()


def github_pat(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return "ghp_" + rand(rng, ALNUM, 36)
    if kind == 1:
        return "github_pat_" + rand(rng, UPPER_DIGITS, 22) + "_" + rand(rng, ALNUM, 59)
    return "ghs_" + rand(rng, ALNUM, 36)


def gitlab_pat(rng: random.Random) -> str:
    return "glpat-" + rand(rng, ALNUM + "-_", 20)


def vcs_token(rng: random.Random) -> str:
    return github_pat(rng) if rng.random() < 0.7 else gitlab_pat(rng)


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(rng: random.Random) -> str:
    header = _b64url({"alg": rng.choice(("RS256", "ES256", "HS256")), "typ": "JWT"})
    payload = _b64url(
        {
            "iss": f"https://auth.{word(rng)}.example.com/",
            "sub": str(uuid.UUID(bytes=rng.randbytes(16))),
            "exp": rng.randint(1_900_000_000, 2_000_000_000),
        }
    )
    signature = base64.urlsafe_b64encode(rng.randbytes(rng.choice((32, 64, 256))))
    return f"{header}.{payload}.{signature.decode().rstrip('=')}"


def _lines(blob: bytes) -> str:
    text = base64.b64encode(blob).decode()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def private_key(rng: random.Random) -> tuple[str, str]:
    """A PEM private key and its body (the part that must never be stored)."""
    kind = rng.randrange(3)
    if kind == 0:
        der = bytes.fromhex("308204a40201000282010100") + rng.randbytes(1180)
        label = "RSA PRIVATE KEY"
    elif kind == 1:
        der = b"openssh-key-v1\x00" + struct.pack(">I", 4) + b"none" + rng.randbytes(380)
        label = "OPENSSH PRIVATE KEY"
    else:
        der = bytes.fromhex("308187020100301306072a8648ce3d020106082a8648ce3d030107") + (
            rng.randbytes(110)
        )
        label = "PRIVATE KEY"
    body = _lines(der)
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n", body


def slack_webhook(rng: random.Random) -> tuple[str, str]:
    path = f"T{rand(rng, UPPER_DIGITS, 10)}/B{rand(rng, UPPER_DIGITS, 10)}/{rand(rng, ALNUM, 24)}"
    return f"https://hooks.slack.com/services/{path}", path


def random_token(rng: random.Random, size: int = 32) -> str:
    """A token that matches no known format: only its randomness gives it away."""
    return rand(rng, ALNUM, size)


def service_account_json(rng: random.Random) -> tuple[str, str]:
    """A GCP service-account key file, as text, and its private key id."""
    project = f"{word(rng)}-{rand(rng, string.ascii_lowercase + string.digits, 6)}"
    key_id = rand(rng, HEX, 40)
    pem, _body = private_key(rng)
    document = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": f"ci-logs@{project}.iam.gserviceaccount.com",
        "client_id": str(rng.randrange(10**20, 10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return json.dumps(document, indent=rng.choice((None, 2))), key_id


def hmac_credential(rng: random.Random) -> str:
    """A credential value of no known format (an HMAC key pair as one string)."""
    return f"{rand(rng, UPPER_DIGITS, 24)}:{rand(rng, ALNUM, 30)}"


# -- benign look-alikes ------------------------------------------------------------------


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def ssh_public_key(rng: random.Random) -> str:
    comment = f"{rng.choice(PEOPLE)}@{word(rng)}-ci"
    if rng.random() < 0.5:
        blob = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.randbytes(32))
        return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"
    modulus = b"\x00" + bytes([rng.randint(0x80, 0xFF)]) + rng.randbytes(255)
    blob = _ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01") + _ssh_string(modulus)
    return f"ssh-rsa {base64.b64encode(blob).decode()} {comment}"


def pem_public_key(rng: random.Random) -> str:
    der = (
        bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100")
        + bytes([rng.randint(0x80, 0xFF)])
        + rng.randbytes(255)
        + bytes.fromhex("0203010001")
    )
    return f"-----BEGIN PUBLIC KEY-----\n{_lines(der)}\n-----END PUBLIC KEY-----\n"


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def age_recipient(rng: random.Random) -> str:
    """An age X25519 recipient (``age1`` + bech32 of 32 bytes, with its checksum)."""
    bits = "".join(f"{byte:08b}" for byte in rng.randbytes(32))
    bits += "0" * (-len(bits) % 5)
    data = [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]
    hrp = "age"
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod([*expanded, *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "age1" + "".join(_BECH32[d] for d in data + checksum)


def commit_sha(rng: random.Random) -> str:
    return rand(rng, HEX, 40)


def image_digest(rng: random.Random) -> str:
    return f"ghcr.io/acme/{service(rng)}@sha256:{hashlib.sha256(rng.randbytes(32)).hexdigest()}"


def a_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(bytes=rng.randbytes(16), version=4))


def arn(rng: random.Random) -> str:
    account = rng.randrange(10**11, 10**12)
    region = rng.choice(("eu-west-1", "us-east-1", "ap-southeast-2"))
    kind = rng.randrange(3)
    if kind == 0:
        return f"arn:aws:iam::{account}:role/{service(rng)}-deployer"
    if kind == 1:
        suffix = rand(rng, ALNUM, 6)
        return f"arn:aws:secretsmanager:{region}:{account}:secret:ci/{word(rng)}-{suffix}"
    return f"arn:aws:kms:{region}:{account}:key/{a_uuid(rng)}"


def checksum(rng: random.Random) -> str:
    data = rng.randbytes(32)
    kind = rng.randrange(3)
    if kind == 0:
        return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if kind == 1:
        return "h1:" + base64.b64encode(hashlib.sha256(data).digest()).decode()
    return hashlib.sha256(data).hexdigest()


def env_name(rng: random.Random, *words: str) -> str:
    return "_".join((*words,)).upper() if words else word(rng).upper()
