"""TLS with mutual authentication for ``tls+tcp://`` addresses.

NNG's TLS (Mbed TLS, built into pynng) secures each connection. With it a
coordinator accepts only peers whose certificate its CA signed: its three
sockets listen in server mode and require a client certificate, so a peer
without one gets no survey, no descriptor, and cannot push a result. A
worker checks the coordinator's certificate against the same CA, and the
coordinator's host name (or IP address) in the ``--connect`` URL must be in
that certificate's subject alternative names.

Each side names three PEM files: its certificate, its private key and the
CA certificate. Local workers started by ``nngexport export --workers N``
use the coordinator's own files, so that certificate must also allow client
authentication (no extended key usage, or both ``serverAuth`` and
``clientAuth``). ``docs/security.md`` shows how to make the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynng

from .endpoints import host_of
from .errors import UsageError

__all__ = ["TlsFiles", "check_tls", "client_config", "is_tls", "server_config"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The PEM files of one side: certificate, private key, CA certificate."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def of(cls, cert: str | None, key: str | None, ca: str | None) -> TlsFiles | None:
        """From the three options: all of them, or none (``None``).

        Raises:
            UsageError: Only some were given.
        """
        given = {"--tls-cert": cert, "--tls-key": key, "--tls-ca": ca}
        if not any(given.values()):
            return None
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise UsageError(
                "TLS needs --tls-cert, --tls-key and --tls-ca;"
                f" add {', '.join(missing)}"
            )
        return cls(Path(cert or ""), Path(key or ""), Path(ca or ""))

    def read(self) -> tuple[str, str, str]:
        """The certificate, key and CA as PEM text.

        Raises:
            UsageError: A file cannot be read or is not PEM.
        """
        texts = []
        for what, path in (
            ("certificate", self.cert),
            ("key", self.key),
            ("CA", self.ca),
        ):
            try:
                text = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or exc
                raise UsageError(
                    f"cannot read the TLS {what} {str(path)!r}: {reason}"
                ) from None
            if "-----BEGIN " not in text:
                raise UsageError(f"the TLS {what} {str(path)!r} is not a PEM file")
            texts.append(text)
        return texts[0], texts[1], texts[2]


def is_tls(url: str) -> bool:
    """Whether ``url`` is a ``tls+tcp://`` address."""
    return url.startswith("tls+tcp://")


def check_tls(url: str, tls: TlsFiles | None, *, what: str) -> None:
    """Refuse a tls+tcp:// address without TLS files, and TLS files without one.

    Raises:
        UsageError: The two do not go together.
    """
    if is_tls(url) and tls is None:
        raise UsageError(f"{what} {url!r} needs --tls-cert, --tls-key and --tls-ca")
    if tls is not None and not is_tls(url):
        raise UsageError(
            f"--tls-cert, --tls-key and --tls-ca need a tls+tcp:// {what}, got {url!r}"
        )


def server_config(tls: TlsFiles) -> Any:
    """The coordinator's TLS: server mode, a client certificate required."""
    cert, key, ca = tls.read()
    return _config(
        pynng.TLSConfig.MODE_SERVER,
        ca_string=ca,
        own_cert_string=cert,
        own_key_string=key,
        auth_mode=pynng.TLSConfig.AUTH_MODE_REQUIRED,
    )


def client_config(tls: TlsFiles, connect: str) -> Any:
    """A worker's TLS for the coordinator at ``connect``, verified by name."""
    cert, key, ca = tls.read()
    host = host_of(connect)
    if not host:
        raise UsageError(f"coordinator address {connect!r} has no host to verify")
    return _config(
        pynng.TLSConfig.MODE_CLIENT,
        ca_string=ca,
        own_cert_string=cert,
        own_key_string=key,
        server_name=host,
        auth_mode=pynng.TLSConfig.AUTH_MODE_REQUIRED,
    )


def _config(mode: int, **options: Any) -> Any:
    try:
        return pynng.TLSConfig(mode, **options)
    except pynng.NNGException as exc:
        raise UsageError(f"the TLS files are not usable: {exc}") from None
