"""Claims on object storage: leases, since object storage has no locks and a holder on
another machine cannot be asked whether it is alive.

A lease is the object `claims/<key>.json` in the store: who holds it and until when. It
is taken with a create-only write (exactly one of two takers succeeds), renewed by its
holder every third of its term with a write conditional on the ETag the holder last
wrote, and released with a delete conditional on it. A lease whose term ran out (its
holder died, or was cut off for longer than the term) is taken over with a write
conditional on the expired lease's ETag, so again exactly one taker wins; the old holder
finds its next renewal refused and marks the lease lost, and a record is never written
under a lost lease. Terms are compared across machines: clocks must agree to well within
a term (`MMBENCH_LEASE_S`, default 60 s).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from mmbench.objects import ObjectStore

CLAIMS = "claims"
DEFAULT_TERM_S = 60.0


def term_s() -> float:
    try:
        value = float(os.environ.get("MMBENCH_LEASE_S", DEFAULT_TERM_S))
    except ValueError:
        return DEFAULT_TERM_S
    return value if value > 0 else DEFAULT_TERM_S


@dataclass
class Lease:
    objects: ObjectStore
    key: str
    tag: str
    term: float
    holder: str
    expires: float
    lost: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def object_key(self) -> str:
        return f"{CLAIMS}/{self.key}.json"

    def valid(self) -> bool:
        """Still ours: never refused a renewal, and its term has not run out."""
        return not self.lost and time.time() < self.expires

    def renew(self) -> bool:
        with self.lock:
            if self.lost:
                return False
            expires = time.time() + self.term
            tag = self.objects.replace(self.object_key, _body(self.holder, expires), self.tag)
            if tag is None:
                self.lost = True
                return False
            self.tag, self.expires = tag, expires
            return True

    def release(self) -> None:
        with self.lock:
            if not self.lost:
                # A release the server did not get is safe: the lease runs out after its term.
                with contextlib.suppress(Exception):
                    self.objects.delete(self.object_key, self.tag)
            self.lost = True


def _body(holder: str, expires: float) -> bytes:
    return json.dumps({"holder": holder, "expires": expires,
                       "until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))}).encode()


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} ({secrets.token_hex(4)})"


def take(objects: ObjectStore, key: str, term: float | None = None) -> Lease | None:
    """The lease on `key`, or None while another holder's lease is in its term."""
    term = term or term_s()
    holder = _holder()
    object_key = f"{CLAIMS}/{key}.json"
    for _ in range(3):  # a lease released between our two requests: try again
        expires = time.time() + term
        tag = objects.create(object_key, _body(holder, expires))
        if tag is not None:
            return _held(Lease(objects, key, tag, term, holder, expires))
        found = objects.read_with_tag(object_key)
        if found is None:
            continue
        raw, old_tag = found
        if _expires(raw) > time.time():
            return None
        expires = time.time() + term
        tag = objects.replace(object_key, _body(holder, expires), old_tag)
        if tag is not None:  # taken over from a holder whose term ran out
            return _held(Lease(objects, key, tag, term, holder, expires))
        return None  # another taker was first
    return None


def _expires(raw: bytes) -> float:
    try:
        value = json.loads(raw).get("expires")
    except (ValueError, AttributeError):
        return 0.0  # unreadable: treat as expired, so a damaged lease does not block forever
    return float(value) if isinstance(value, int | float) else 0.0


def holder_of(objects: ObjectStore, key: str) -> str | None:
    """Who holds the lease on `key` now, or None when no lease is in its term."""
    raw = objects.read(f"{CLAIMS}/{key}.json")
    if raw is None or _expires(raw) <= time.time():
        return None
    try:
        return str(json.loads(raw).get("holder"))
    except (ValueError, AttributeError):
        return "unknown holder"


@contextlib.contextmanager
def hold(objects: ObjectStore, key: str, *, wait: bool = True,
         term: float | None = None) -> Iterator[Lease | None]:
    """The lease on `key` for the block (renewed meanwhile); None, holding nothing, when
    `wait` is false and another holder has it. Waiting polls until it is free."""
    lease = take(objects, key, term)
    while lease is None and wait:
        time.sleep(min(1.0, (term or term_s()) / 10))
        lease = take(objects, key, term)
    if lease is None:
        yield None
        return
    try:
        yield lease
    finally:
        _RENEWER.drop(lease)
        lease.release()


class _Renewer:
    """One thread per process renews every lease it holds."""

    def __init__(self) -> None:
        self.leases: dict[int, Lease] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = -1
        self.wake = threading.Event()  # a new lease may need renewing sooner than the next round

    def add(self, lease: Lease) -> None:
        with self.lock:
            self.leases[id(lease)] = lease
            if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._loop, name="mmbench-leases", daemon=True)
                self.thread.start()
        self.wake.set()

    def drop(self, lease: Lease) -> None:
        with self.lock:
            self.leases.pop(id(lease), None)

    def _loop(self) -> None:
        while True:
            with self.lock:
                held = list(self.leases.values())
            now = time.time()
            for lease in held:
                if lease.expires - now < lease.term * 2 / 3:
                    # A failed request (network, server): try again next round; a lease
                    # never renewed runs out, and then nothing is written under it.
                    with contextlib.suppress(Exception):
                        lease.renew()
            self.wake.wait(max(0.05, min((lease.term for lease in held), default=DEFAULT_TERM_S) / 10))
            self.wake.clear()


_RENEWER = _Renewer()


def _held(lease: Lease) -> Lease:
    _RENEWER.add(lease)
    return lease
