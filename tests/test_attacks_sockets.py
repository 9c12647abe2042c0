"""Socket families by allow-list (seccomp, both policies): only AF_UNIX and netlink's route
protocol (which the kernel's own libzmq opens) can be created. AF_VSOCK bound and listened
before: on a VM guest it reaches the hypervisor's side, which no network namespace covers."""

from __future__ import annotations

import errno
import socket

import pytest

REFUSED = [
    ("AF_VSOCK", "SOCK_STREAM", 0),
    ("AF_PACKET", "SOCK_RAW", 0),
    ("AF_INET", "SOCK_STREAM", 0),
    ("AF_INET6", "SOCK_DGRAM", 0),
    ("AF_ALG", "SOCK_SEQPACKET", 0),
    ("AF_NETLINK", "SOCK_RAW", 9),   # NETLINK_AUDIT
    ("AF_NETLINK", "SOCK_RAW", 15),  # NETLINK_KOBJECT_UEVENT
    ("AF_BLUETOOTH", "SOCK_RAW", 0),
]


@pytest.mark.parametrize("family, kind, proto", REFUSED)
def test_a_socket_of_a_family_outside_the_allow_list_is_refused(trusted_sb, family, kind, proto):
    number = getattr(socket, family, None)
    if number is None:
        pytest.skip(f"{family} is not known to this Python")
    code = (f"import socket\ntry:\n    s = socket.socket({number}, socket.{kind}, {proto})\n    print('open')\n"
            "except OSError as e:\n    print('refused', e.errno)")
    r = trusted_sb.execute(code)
    assert r.stdout.startswith("refused"), r.stdout + str(r.error)
    assert int(r.stdout.split()[1]) in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT)


def test_family_numbers_nobody_named_are_refused_and_unix_still_works(trusted_sb):
    code = ("import socket\nopen_ = []\nfor fam in list(range(0, 64)) + [64, 255, 2**31 - 1]:\n"
            "    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW):\n"
            "        try:\n            socket.socket(fam, kind, 0).close()\n            open_.append(fam)\n"
            "        except (OSError, ValueError, OverflowError):\n            pass\n"
            "for fam in (socket.AF_INET, socket.AF_VSOCK, 40):\n"
            "    try:\n        socket.socketpair(fam)\n        open_.append(('pair', fam))\n"
            "    except OSError:\n        pass\n"
            "a, b = socket.socketpair()\na.send(b'x')\nprint(sorted(set(map(str, open_))), b.recv(1))")
    r = trusted_sb.execute(code)
    assert r.error is None, r.error
    assert r.stdout.strip() == "['1', '16'] b'x'"  # AF_UNIX, and netlink's route protocol


def test_the_isolation_report_names_the_socket_allow_list(trusted_sb, restricted_sb):
    for sb in (trusted_sb, restricted_sb):
        layer = next(layer for layer in sb.isolation().layers if layer.layer == "seccomp")
        assert layer.active and "AF_UNIX" in layer.detail


def test_the_restricted_policy_hands_out_no_socket_module(restricted_sb):
    r = restricted_sb.execute("import socket")
    assert r.error and "socket" in r.error
