"""Which files typically hold credentials, by name: one definition for every service. The agent-runtime's guardrails
ask before a tool touches one; the gateway's ACP listings and searches leave them out of what they report (so an
ACP client can promise ``excludes_secrets``)."""

from __future__ import annotations

import fnmatch

# Secret families as globs over a file name (case-insensitive).
SECRET_GLOBS = (
    ".env", ".env.*", ".netrc", ".npmrc", ".pypirc", ".git-credentials", ".htpasswd", ".pgpass", "credentials",
    "credentials.json", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx", "*.tfstate",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".envrc", ".s3cfg", ".boto", "secrets.*", "*.secret",
    "*.secrets", "*.ovpn",
)  # fmt: skip
# A name ending in one of these is not a secret (``.env.example``, ``id_rsa.pub``, ``.env.dart``).
PUBLIC_SUFFIXES = (
    ".pub", ".example", ".sample", ".template", ".dist",
    ".dart", ".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".swift", ".c", ".h", ".cc",
    ".cpp", ".hpp", ".cs", ".rb", ".php", ".md", ".txt", ".html", ".css", ".scss",
)  # fmt: skip


# Directories whose files are credentials or configuration holding them (``.ssh``, ``.aws``, ``.kube``…).
SECRET_DIRECTORIES = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".gcloud", ".password-store"})


def secret_file(path: str) -> bool:
    """Whether the file's name, or a directory it is in, says it typically holds credentials."""
    segments = path.replace("\\", "/").rstrip("/").lower().split("/")
    name = segments[-1]
    if not name or name.endswith(PUBLIC_SUFFIXES):
        return False
    if SECRET_DIRECTORIES.intersection(segments[:-1]):
        return True
    return any(fnmatch.fnmatchcase(name, family) for family in SECRET_GLOBS)
