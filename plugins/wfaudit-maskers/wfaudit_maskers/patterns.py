"""Value patterns: credential formats recognised by their shape, anywhere in a string.

Each :class:`ValuePattern` says how the scanner may find it cheaply, before its
regular expression runs:

* ``prefixes``: the secret is a token starting with one of these literals
  (``ghp_``, ``AKIA``). The scanner tries the pattern only at the start of a
  long token (or just after an ``=`` inside one) whose first characters match.
* ``contains``: the secret is a token containing this literal (``atlasv1``).
* ``needles``: the pattern needs context around the secret (``AccountKey=...``,
  ``"private_key": "..."``); it runs on the strings that contain a needle
  (compared in lower case when ``ignore_case``).
* none of these (user patterns only): the pattern runs on every string.

The secret is the named group ``s`` when the pattern has one, else the whole
match. Names are kebab-case; the rule recorded in the manifest is
``pattern:<name>``. The catalog is data; the scanner lives in ``scanner.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from wfaudit_hookspecs import ConfigurationError

__all__ = ["CATALOG", "ValuePattern", "user_patterns"]


@dataclass(frozen=True, slots=True)
class ValuePattern:
    """A named credential format.

    :ivar name: kebab-case name; the manifest records ``pattern:<name>``.
    :ivar regex: the compiled pattern; the secret is group ``s`` if present.
    :ivar kind: what it belongs to, for the documentation (``cloud``, ``vcs``...).
    :ivar prefixes: literals a token must start with (two characters at least).
    :ivar contains: a literal a token must contain.
    :ivar needles: literals a string must contain (lower case if ``ignore_case``).
    :ivar ignore_case: compare needles with the lower-cased string.
    :ivar before: a pattern the text just before the match must end with.
    :ivar check: a last test of the secret's text (a decodable JWT header).
    :ivar rename: another pattern name for some matches (a JWT that is a
        Kubernetes service-account token).
    """

    name: str
    regex: re.Pattern[str]
    kind: str = "custom"
    prefixes: tuple[str, ...] = ()
    contains: str = ""
    needles: tuple[str, ...] = ()
    ignore_case: bool = False
    before: re.Pattern[str] | None = None
    check: Callable[[str], bool] | None = None
    rename: Callable[[str], str | None] | None = None
    description: str = ""

    @property
    def rule(self) -> str:
        """The rule name recorded in the manifest."""
        return f"pattern:{self.name}"

    def span(self, match: re.Match[str]) -> tuple[int, int]:
        """The secret's span in a match: group ``s`` if the pattern has one."""
        if "s" in self.regex.groupindex and match.start("s") >= 0:
            return match.span("s")
        return match.span()

    def accept(self, secret: str, text: str, start: int) -> str | None:
        """The rule for a match of ``secret`` at ``text[start:]``, or None to reject it."""
        if self.before is not None and not self.before.search(text, max(0, start - 32), start):
            return None
        if self.check is not None and not self.check(secret):
            return None
        if self.rename is not None:
            other = self.rename(secret)
            if other:
                return f"pattern:{other}"
        return self.rule


# -- validators ------------------------------------------------------------------------


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):  # JSONDecodeError and UnicodeDecodeError too
        return None


def _is_jwt(token: str) -> bool:
    header = _b64url_json(token.split(".", 1)[0])
    return isinstance(header, dict) and ("alg" in header or "typ" in header)


def _jwt_kind(token: str) -> str | None:
    parts = token.split(".")
    payload = _b64url_json(parts[1]) if len(parts) > 1 else None
    if isinstance(payload, dict):
        issuer = str(payload.get("iss", ""))
        if "kubernetes" in issuer or "kubernetes.io" in payload:
            return "kubernetes-sa-token"
    return None


def _mixed(secret: str) -> bool:
    # Random keys mix lower case, upper case and digits; words and names seldom do.
    tail = secret[3:]
    return (
        any(c.isdigit() for c in tail)
        and any(c.islower() for c in tail)
        and any(c.isupper() for c in tail)
    )


def _openai(secret: str) -> bool:
    return not secret.startswith("sk-ant-") and _mixed(secret)


def _discord_bot(secret: str) -> bool:
    # The first part is the bot's numeric user id, base64-encoded.
    head = secret.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True)
    except binascii.Error:
        return False
    return decoded.isdigit()


# -- the catalog -----------------------------------------------------------------------

_END = r"(?![A-Za-z0-9])"
_TOKEN_END = r"(?![A-Za-z0-9_\-])"  # noqa: S105 (a regex, not a password)


def _p(
    name: str,
    kind: str,
    pattern: str,
    description: str,
    *,
    prefixes: Iterable[str] = (),
    contains: str = "",
    needles: Iterable[str] = (),
    ignore_case: bool = False,
    before: str | None = None,
    check: Callable[[str], bool] | None = None,
    rename: Callable[[str], str | None] | None = None,
    flags: int = 0,
) -> ValuePattern:
    return ValuePattern(
        name=name,
        regex=re.compile(pattern, flags | (re.IGNORECASE if ignore_case else 0)),
        kind=kind,
        prefixes=tuple(prefixes),
        contains=contains,
        needles=tuple(needles),
        ignore_case=ignore_case,
        before=re.compile(before + r"\Z") if before else None,
        check=check,
        rename=rename,
        description=description,
    )


_AWS_ID_PREFIXES = (
    "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA",
)  # fmt: skip
_KEY_ASSIGN = r"""["']?\s*(?:[:=]|\s)\s*["']?"""
"""Between a context word and its value: ``=``, ``:``, or a space, with optional quotes."""

# fmt: off
CATALOG: tuple[ValuePattern, ...] = (
    # -- cloud providers ---------------------------------------------------------------
    _p(
        "aws-access-key-id", "cloud",
        r"(?:A3T[A-Z0-9]|" + "|".join(_AWS_ID_PREFIXES) + r")[A-Z0-9]{16}" + _END,
        "AWS access key ids (long-term AKIA, temporary ASIA, and the other IAM id prefixes).",
        prefixes=(*_AWS_ID_PREFIXES, "A3T"),
    ),
    _p(
        "aws-secret-access-key", "cloud",
        r"(?:aws_?)?(?:secret_?access_?key|session_?token)" + _KEY_ASSIGN
        + r"(?P<s>[A-Za-z0-9/+=]{16,})",
        "AWS secret access keys and session tokens after their variable name, "
        "including `aws configure set aws_secret_access_key VALUE`.",
        needles=("secret_access_key", "secretaccesskey", "session_token", "sessiontoken"),
        ignore_case=True,
    ),
    _p(
        "aws-presigned-signature", "cloud",
        r"X-(?:Amz|Goog)-Signature=(?P<s>[A-Fa-f0-9]{32,})",
        "The signature of an AWS S3 or Google Cloud Storage presigned URL.",
        needles=("X-Amz-Signature=", "X-Goog-Signature="),
    ),
    _p(
        "gcp-api-key", "cloud", r"AIza[0-9A-Za-z_\-]{30,}" + _TOKEN_END,
        "Google Cloud / Firebase API keys.", prefixes=("AIza",),
    ),
    _p(
        "gcp-oauth-client-secret", "cloud", r"GOCSPX-[0-9A-Za-z_\-]{20,}" + _TOKEN_END,
        "Google OAuth client secrets.", prefixes=("GOCSPX-",),
    ),
    _p(
        "google-oauth-token", "cloud",
        r"(?:ya29\.[0-9A-Za-z_\-.]{20,}|1//0[0-9A-Za-z_\-]{30,})" + _TOKEN_END,
        "Google OAuth access tokens (`ya29.`) and refresh tokens (`1//0`).",
        prefixes=("ya29.", "1//0"),
    ),
    _p(
        "gcp-service-account-key", "cloud",
        r'"private_key"\s*:\s*"(?P<s>[^"]{16,})"',
        "The `private_key` of a GCP service-account JSON held in a string.",
        needles=('"private_key"',),
    ),
    _p(
        "azure-storage-key", "cloud",
        r"(?:AccountKey|SharedAccessKey)\s*=\s*(?P<s>[A-Za-z0-9+/=]{20,})",
        "Azure storage account keys and Service Bus / Event Hubs shared access keys "
        "inside connection strings.",
        needles=("AccountKey", "SharedAccessKey"),
    ),
    _p(
        "azure-sas-token", "cloud",
        r"(?:^|(?<=[?&;\s\"'=]))sig=(?P<s>[A-Za-z0-9%+/=]{16,})",
        "The signature (`sig=`) of an Azure shared access signature, in a URL or alone.",
        needles=("sig=",),
    ),
    _p(
        "azure-client-secret", "cloud",
        r"[A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}" + _END,
        "Azure AD (Entra ID) application client secrets (`xxx8Q~...`).",
        contains="Q~",
    ),
    _p(
        "azure-devops-pat", "cloud", r"[a-z0-9]{52}AZDO[A-Za-z0-9]{4}" + _END,
        "Azure DevOps personal access tokens (the 84-character format).",
        contains="AZDO",
    ),
    _p(
        "alibaba-access-key-id", "cloud", r"LTAI[A-Za-z0-9]{12,20}" + _END,
        "Alibaba Cloud access key ids.", prefixes=("LTAI",),
    ),
    _p(
        "tencent-secret-id", "cloud", r"AKID[A-Za-z0-9]{32}" + _END,
        "Tencent Cloud secret ids.", prefixes=("AKID",),
    ),
    _p(
        "digitalocean-token", "cloud", r"do[opr]_v1_[a-f0-9]{64}" + _END,
        "DigitalOcean personal, OAuth and refresh tokens.",
        prefixes=("dop_v1_", "doo_v1_", "dor_v1_"),
    ),
    _p(
        "heroku-api-key", "cloud",
        r"HRKU-[A-Za-z0-9_\-]{20,}" + _TOKEN_END
        + r"|heroku[\w\-]{0,24}?(?:api)?[_\-]?key" + _KEY_ASSIGN
        + r"(?P<s>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        "Heroku API keys (`HRKU-`) and legacy UUID keys after a `HEROKU_API_KEY` name.",
        needles=("hrku-", "heroku"),
        ignore_case=True,
    ),
    _p(
        "vault-token", "cloud", r"hv[sbr]\.[A-Za-z0-9_\-]{20,}" + _TOKEN_END,
        "HashiCorp Vault service, batch and recovery tokens.",
        prefixes=("hvs.", "hvb.", "hvr."),
    ),
    _p(
        "terraform-cloud-token", "cloud",
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,}",
        "Terraform Cloud / Enterprise API tokens.", contains=".atlasv1.",
    ),
    _p(
        "pulumi-token", "cloud", r"pul-[a-f0-9]{40}" + _END,
        "Pulumi access tokens.", prefixes=("pul-",),
    ),
    _p(
        "doppler-token", "cloud",
        r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,}" + _END,
        "Doppler tokens.", prefixes=("dp.",),
    ),
    _p(
        "databricks-token", "cloud", r"dapi[a-f0-9]{32}(?:-[0-9])?" + _END,
        "Databricks personal access tokens.", prefixes=("dapi",),
    ),
    # -- version control and CI --------------------------------------------------------
    _p(
        "github-pat", "vcs", r"ghp_[A-Za-z0-9]{30,}" + _END,
        "GitHub classic personal access tokens.", prefixes=("ghp_",),
    ),
    _p(
        "github-fine-grained-pat", "vcs", r"github_pat_[A-Za-z0-9_]{40,}" + _END,
        "GitHub fine-grained personal access tokens.", prefixes=("github_pat_",),
    ),
    _p(
        "github-oauth-token", "vcs", r"gho_[A-Za-z0-9]{30,}" + _END,
        "GitHub OAuth access tokens.", prefixes=("gho_",),
    ),
    _p(
        "github-app-token", "vcs", r"gh[us]_[A-Za-z0-9]{30,}" + _END,
        "GitHub App user-to-server and installation (server-to-server) tokens.",
        prefixes=("ghu_", "ghs_"),
    ),
    _p(
        "github-refresh-token", "vcs", r"ghr_[A-Za-z0-9]{30,}" + _END,
        "GitHub refresh tokens.", prefixes=("ghr_",),
    ),
    _p(
        "gitlab-pat", "vcs", r"glpat-[A-Za-z0-9_\-.]{20,}" + _TOKEN_END,
        "GitLab personal, project and group access tokens.", prefixes=("glpat-",),
    ),
    _p(
        "gitlab-runner-token", "vcs",
        r"(?:glrt-|glrtr-|GR1348941)[A-Za-z0-9_\-.]{20,}" + _TOKEN_END,
        "GitLab runner authentication and registration tokens.",
        prefixes=("glrt-", "glrtr-", "GR1348941"),
    ),
    _p(
        "gitlab-token", "vcs",
        r"gl(?:dt|ptt|cbt|imt|ft|oas|soat|agent|wt|ffct)-[A-Za-z0-9_\-.]{20,}" + _TOKEN_END,
        "Other GitLab tokens: deploy, pipeline trigger, CI job, feed, OAuth, agent...",
        prefixes=("gldt-", "glptt-", "glcbt-", "glimt-", "glft-", "gloas-", "glsoat-",
                  "glagent-", "glwt-", "glffct-"),
    ),
    _p(
        "bitbucket-app-password", "vcs", r"ATBB[A-Za-z0-9_=.\-]{28,}" + _TOKEN_END,
        "Bitbucket app passwords.", prefixes=("ATBB",),
    ),
    _p(
        "bitbucket-access-token", "vcs", r"ATCTT3[A-Za-z0-9_=.\-]{20,}" + _TOKEN_END,
        "Bitbucket repository, project and workspace access tokens.", prefixes=("ATCTT3",),
    ),
    _p(
        "atlassian-api-token", "vcs", r"ATATT3[A-Za-z0-9_=.\-]{40,}" + _TOKEN_END,
        "Atlassian (Jira, Confluence) API tokens.", prefixes=("ATATT3",),
    ),
    _p(
        "circleci-token", "vcs", r"CCIPAT_[A-Za-z0-9]{20,}_[a-f0-9]{40}" + _END,
        "CircleCI personal API tokens.", prefixes=("CCIPAT_",),
    ),
    _p(
        "buildkite-token", "vcs", r"bkua_[a-f0-9]{40}" + _END,
        "Buildkite agent and API tokens.", prefixes=("bkua_",),
    ),
    _p(
        "sonarqube-token", "vcs", r"sq[pau]_[a-f0-9]{40}" + _END,
        "SonarQube / SonarCloud tokens.", prefixes=("sqp_", "sqa_", "squ_"),
    ),
    # -- chat and webhooks -------------------------------------------------------------
    _p(
        "slack-token", "chat", r"xox[abposre]-[0-9A-Za-z\-]{10,}" + _TOKEN_END
        + r"|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{20,}" + _END,
        "Slack bot, user, app-config and refresh tokens (`xoxb-`, `xoxp-`, `xoxe.`).",
        prefixes=("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe"),
    ),
    _p(
        "slack-app-token", "chat", r"xapp-[0-9]-[A-Z0-9]+-[0-9]+-[A-Za-z0-9]+" + _END,
        "Slack app-level tokens.", prefixes=("xapp-",),
    ),
    _p(
        "discord-bot-token", "chat",
        r"[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}" + _TOKEN_END,
        "Discord bot tokens (the first part decodes to the bot's numeric id).",
        contains=".", check=_discord_bot,
    ),
    _p(
        "telegram-bot-token", "chat",
        r"(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}" + _TOKEN_END,
        "Telegram bot tokens (`123456789:AA...`).", needles=(":AA",),
    ),
    # -- payments, e-mail, messaging -----------------------------------------------------
    _p(
        "stripe-secret-key", "payment", r"sk_(?:live|test)_[0-9A-Za-z]{16,}" + _END,
        "Stripe live and test secret keys.", prefixes=("sk_live_", "sk_test_"),
    ),
    _p(
        "stripe-restricted-key", "payment", r"rk_(?:live|test)_[0-9A-Za-z]{16,}" + _END,
        "Stripe restricted keys.", prefixes=("rk_live_", "rk_test_"),
    ),
    _p(
        "stripe-webhook-secret", "payment", r"whsec_[A-Za-z0-9+/=]{24,}",
        "Stripe webhook signing secrets.", prefixes=("whsec_",),
    ),
    _p(
        "square-token", "payment",
        r"(?:sq0atp-[0-9A-Za-z_\-]{22,}|sq0csp-[0-9A-Za-z_\-]{40,}|EAAA[A-Za-z0-9_\-+=]{60})"
        + _TOKEN_END,
        "Square access tokens and OAuth secrets.", prefixes=("sq0atp-", "sq0csp-", "EAAA"),
    ),
    _p(
        "shopify-token", "payment", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _END,
        "Shopify access tokens and shared secrets.",
        prefixes=("shpat_", "shpca_", "shppa_", "shpss_"),
    ),
    _p(
        "twilio-api-key", "messaging", r"SK[0-9a-fA-F]{32}" + _END,
        "Twilio API key SIDs (`SK` + 32 hex).", prefixes=("SK",),
    ),
    _p(
        "twilio-auth-token", "messaging",
        r"twilio[\w\-]{0,24}?(?:auth)?[_\-]?token" + _KEY_ASSIGN + r"(?P<s>[a-f0-9]{32})" + _END,
        "Twilio auth tokens after a `TWILIO_AUTH_TOKEN`-like name.",
        needles=("twilio",), ignore_case=True,
    ),
    _p(
        "sendgrid-api-key", "messaging",
        r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}" + _TOKEN_END,
        "SendGrid API keys.", prefixes=("SG.",),
    ),
    _p(
        "mailgun-api-key", "messaging", r"key-[0-9a-zA-Z]{32}" + _END,
        "Mailgun API keys (`key-` + 32 characters).", prefixes=("key-",),
    ),
    _p(
        "mailchimp-api-key", "messaging", r"[0-9a-f]{32}-us[0-9]{1,2}" + _END,
        "Mailchimp API keys (32 hex and the data centre, `-us6`).", contains="-us",
    ),
    # -- package registries ----------------------------------------------------------------
    _p(
        "npm-token", "registry", r"npm_[A-Za-z0-9]{30,}" + _END,
        "npm access tokens.", prefixes=("npm_",),
    ),
    _p(
        "pypi-token", "registry", r"pypi-Ag[A-Za-z0-9_\-]{40,}" + _TOKEN_END,
        "PyPI and TestPyPI API tokens (macaroons).", prefixes=("pypi-Ag",),
    ),
    _p(
        "dockerhub-pat", "registry", r"dckr_(?:pat|oat)_[A-Za-z0-9_\-]{20,}" + _TOKEN_END,
        "Docker Hub personal and organisation access tokens.",
        prefixes=("dckr_pat_", "dckr_oat_"),
    ),
    _p(
        "rubygems-token", "registry", r"rubygems_[a-f0-9]{48}" + _END,
        "RubyGems API keys.", prefixes=("rubygems_",),
    ),
    _p(
        "nuget-api-key", "registry", r"oy2[a-z0-9]{43}" + _END,
        "NuGet API keys.", prefixes=("oy2",),
    ),
    _p(
        "jfrog-token", "registry",
        r"(?:AKCp[A-Za-z0-9]{60,}|cmVmdGtuOjAxOj[A-Za-z0-9]{40,})" + _END,
        "JFrog Artifactory API keys and reference tokens.", prefixes=("AKCp", "cmVmdGtu"),
    ),
    _p(
        "huggingface-token", "ai", r"hf_[A-Za-z0-9]{30,}" + _END,
        "Hugging Face access tokens.", prefixes=("hf_",),
    ),
    # -- monitoring ----------------------------------------------------------------------
    _p(
        "datadog-key", "monitoring",
        r"(?:datadog|dd)[\w\-]{0,24}?(?:api|app(?:lication)?)[_\-]?key" + _KEY_ASSIGN
        + r"(?P<s>[a-f0-9]{32}(?:[a-f0-9]{8})?)" + _END,
        "Datadog API and application keys after a `DD_API_KEY`-like name.",
        needles=("datadog", "dd_ap", "dd-ap"), ignore_case=True,
    ),
    _p(
        "newrelic-key", "monitoring",
        r"NR(?:AK|AA|II|IQ|JS|RA|SP)-[A-Za-z0-9]{20,}" + _END,
        "New Relic user, admin, insights, browser and REST keys.", prefixes=("NR",),
    ),
    _p(
        "newrelic-license-key", "monitoring", r"[a-fA-F0-9]{36}NRAL" + _END,
        "New Relic ingest license keys.", contains="NRAL",
    ),
    _p(
        "sentry-token", "monitoring", r"sntry[su]_[A-Za-z0-9+/=_\-]{40,}",
        "Sentry organisation and user auth tokens.", prefixes=("sntrys_", "sntryu_"),
    ),
    _p(
        "grafana-token", "monitoring",
        r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})" + _END,
        "Grafana service-account and Grafana Cloud tokens.", prefixes=("glsa_", "glc_"),
    ),
    _p(
        "dynatrace-token", "monitoring", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}" + _END,
        "Dynatrace API tokens.", prefixes=("dt0c01.",),
    ),
    # -- AI providers --------------------------------------------------------------------
    _p(
        "anthropic-api-key", "ai", r"sk-ant-[A-Za-z0-9_\-]{20,}" + _TOKEN_END,
        "Anthropic API keys.", prefixes=("sk-ant-",),
    ),
    _p(
        "openai-api-key", "ai",
        r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}" + _TOKEN_END,
        "OpenAI-style API keys (`sk-`, `sk-proj-`...), with mixed case and digits.",
        prefixes=("sk-",), check=_openai,
    ),
    # -- generic formats -----------------------------------------------------------------
    _p(
        "jwt", "generic",
        r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*" + _TOKEN_END,
        "JSON Web Tokens (a bearer credential); one whose issuer is Kubernetes is "
        "recorded as `pattern:kubernetes-sa-token`.",
        prefixes=("eyJ",), check=_is_jwt, rename=_jwt_kind,
    ),
    _p(
        "private-key", "generic",
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        "PEM private key blocks: RSA, EC, DSA, PKCS#8 (also encrypted), OpenSSH, PGP; "
        "masked from BEGIN to END.",
        needles=("-----BEGIN",), flags=re.DOTALL,
    ),
    _p(
        "private-key-der", "generic",
        r"(?:MII[A-Za-z0-9+/]{3}IBAAKC|MII[A-Za-z0-9+/]{3}IBADANBgkqhkiG9w0BAQEFAASC"
        r"|MHcCAQEE|MIGHAgEAMBMGByqGSM49AgEG|MC4CAQAwBQYDK2Vw)[A-Za-z0-9+/=]*",
        "Private keys as base64 DER without PEM armour (PKCS#1, PKCS#8, EC, Ed25519).",
        prefixes=("MII", "MHcCAQEE", "MIGHAgEA", "MC4CAQAw"),
    ),
    _p(
        "putty-private-key", "generic",
        r"PuTTY-User-Key-File-[0-9]:.*?(?:Private-MAC:\s*[0-9a-fA-F]+|\Z)",
        "PuTTY private key files.", needles=("PuTTY-User-Key-File-",), flags=re.DOTALL,
    ),
    _p(
        "age-secret-key", "generic", r"AGE-SECRET-KEY-1[0-9A-Z]{58}" + _END,
        "age encryption secret keys.", prefixes=("AGE-SECRET-KEY-",),
    ),
)
# fmt: on
"""The built-in value patterns."""


def user_patterns(spec: Mapping[str, object]) -> tuple[ValuePattern, ...]:
    """Value patterns from configuration: ``{name: regex}`` or ``{name: {regex, needles}}``.

    :raises ConfigurationError: for a bad name, an invalid regex, or one that
        matches the empty string (it would mask everything, or nothing useful).
    """
    return tuple(_user_pattern(name, value) for name, value in spec.items())


_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._\-]*")


def _user_pattern(name: object, value: object) -> ValuePattern:
    where = f"[tool.wfaudit.maskers.patterns] {name!r}"
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{where}: a pattern name must be lower-case letters, digits, '-', '.', '_'"
        )
    needles: tuple[str, ...] = ()
    ignore_case = False
    if isinstance(value, str):
        source: object = value
    elif isinstance(value, Mapping):
        unknown = sorted(
            str(key) for key in value if key not in ("regex", "needles", "ignore_case")
        )
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key {', '.join(map(repr, unknown))}; "
                "use regex, needles, ignore_case"
            )
        source = value.get("regex")
        ignore_case = value.get("ignore_case", False)
        if not isinstance(ignore_case, bool):
            raise ConfigurationError(f"{where}: ignore_case must be true or false")
        needles = _needles(where, value.get("needles", ()), ignore_case)
    else:
        raise ConfigurationError(f"{where}: expected a regex string or a table")
    if not isinstance(source, str) or not source:
        raise ConfigurationError(f"{where}: the regex must be a non-empty string")
    try:
        regex = re.compile(source, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ConfigurationError(f"{where}: invalid regex: {exc}") from None
    if regex.fullmatch(""):
        raise ConfigurationError(f"{where}: the regex matches the empty string")
    return ValuePattern(
        name=name,
        regex=regex,
        needles=needles,
        ignore_case=ignore_case,
        description="configured in [tool.wfaudit.maskers.patterns]",
    )


def _needles(where: str, raw: object, ignore_case: bool) -> tuple[str, ...]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ConfigurationError(f"{where}: needles must be a list of strings")
    out: list[str] = []
    for needle in raw:
        if not isinstance(needle, str) or not needle:
            raise ConfigurationError(f"{where}: needles must be non-empty strings")
        out.append(needle.lower() if ignore_case else needle)
    return tuple(out)
