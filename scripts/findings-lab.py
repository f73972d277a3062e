#!/usr/bin/env python3
"""The programs of scripts/make-findings-captures.sh's host-lab: small servers and clients that
make real traffic between two network namespaces (each bound to the address it is given).

    findings-lab.py irc-server ADDR PORT             a line server that answers PINGs and sends a command
    findings-lab.py irc-client SRC ADDR PORT SECS     NICK/USER/JOIN, then a PING a second for SECS
    findings-lab.py bulk-server ADDR PORT BYTES       sends BYTES of random data to each client
    findings-lab.py bulk-fetch SRC ADDR PORT          asks once, reads to the end
    findings-lab.py p2p-listen ADDR PORT              TCP and UDP on PORT: echoes back as much as it got
    findings-lab.py p2p-dial SRC ADDR PORT BYTES      sends BYTES and reads BYTES back (a swap of pieces)
    findings-lab.py p2p-udp SRC SPORT ADDR PORT N     N datagrams of ~300 bytes, each answered
    findings-lab.py web-fetch SRC A.B.C.X-Y PORT N    N HTTP GETs of / spread over the addresses, new socket each
    findings-lab.py ntp-server ADDR                   answers 48-byte NTP requests on 123
    findings-lab.py ntp-client SRC A.B.C.X-Y N        N requests from port 123 to each server's 123
    findings-lab.py lan-noise SRC                     what a desktop says to its LAN: SSDP, mDNS, LLMNR,
                                                      NetBIOS and DHCP to multicast and broadcast addresses
"""

import os
import socket
import struct
import sys
import threading
import time


def addresses(spec):
    base, rng = spec.rsplit(".", 1)
    lo, hi = (int(x) for x in rng.split("-"))
    return [f"{base}.{i}" for i in range(lo, hi + 1)]


def serve(addr, port, handle):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def read_all(c, n=None):
    got = 0
    while n is None or got < n:
        b = c.recv(1 << 16)
        if not b:
            break
        got += len(b)
    return got


def irc_server(addr, port):
    def handle(c):
        f = c.makefile("rwb", buffering=0)
        for line in f:
            if line.startswith(b"PING"):
                f.write(b"PONG" + line[4:])
            elif line.startswith(b"JOIN"):
                f.write(b":cc!cc@cc PRIVMSG #ch :.update http://10.78.2.100/x.bin\r\n")
        c.close()

    serve(addr, int(port), handle)


def irc_client(src, addr, port, secs):
    c = socket.create_connection((addr, int(port)), source_address=(src, 0))
    c.sendall(b"NICK bot4711\r\nUSER bot4711 0 * :bot\r\nJOIN #ch\r\n")
    for i in range(int(secs)):
        time.sleep(1)
        c.sendall(b"PING :%d\r\n" % i)
        c.recv(512)
    c.close()


def bulk_server(addr, port, size):
    data = os.urandom(1 << 20)

    def handle(c):
        c.recv(64)
        left = int(size)
        while left > 0:
            c.sendall(data[: min(left, len(data))])
            left -= len(data)
        c.close()

    serve(addr, int(port), handle)


def bulk_fetch(src, addr, port):
    c = socket.create_connection((addr, int(port)), source_address=(src, 0))
    c.sendall(b"GET\n")
    read_all(c)
    c.close()


def p2p_listen(addr, port):
    def handle(c):
        size = struct.unpack("!I", c.recv(4, socket.MSG_WAITALL))[0]
        read_all(c, size)
        c.sendall(os.urandom(size))
        c.close()

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, int(port)))

    def udp():
        while True:
            b, peer = u.recvfrom(2048)
            u.sendto(os.urandom(len(b)), peer)

    threading.Thread(target=udp, daemon=True).start()
    serve(addr, int(port), handle)


def p2p_dial(src, addr, port, size):
    size = int(size)
    c = socket.create_connection((addr, int(port)), source_address=(src, 0))
    c.sendall(struct.pack("!I", size) + os.urandom(size))
    read_all(c, size)
    c.close()


def p2p_udp(src, sport, addr, port, n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, int(sport)))
    u.settimeout(2)
    for _ in range(int(n)):
        u.sendto(os.urandom(300), (addr, int(port)))
        u.recvfrom(2048)
        time.sleep(0.05)


def web_fetch(src, spec, port, n):
    servers = addresses(spec)
    for i in range(int(n)):
        c = socket.create_connection((servers[i % len(servers)], int(port)), source_address=(src, 0))
        c.sendall(b"GET /page.bin HTTP/1.0\r\nHost: x\r\n\r\n")
        read_all(c)
        c.close()


def ntp_server(addr):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, 123))
    while True:
        b, peer = u.recvfrom(512)
        # Mode 4 (server), stratum 2, the client's transmit time as the originate time.
        reply = struct.pack("!BBbb11I", 0x24, 2, 6, -20, *([0] * 11))
        u.sendto(reply[:24] + b[40:48] + reply[32:48], peer)


def ntp_client(src, spec, n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, 123))
    u.settimeout(2)
    for _ in range(int(n)):
        for server in addresses(spec):
            u.sendto(b"\x23" + bytes(39) + struct.pack("!Q", int(time.time()) << 32), (server, 123))
            u.recvfrom(512)
        time.sleep(0.2)


def lan_noise(src):
    """Datagrams to groups and broadcasts that nothing answers as a conversation."""

    def send(dst, port, payload, sport=0, bind=None):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        u.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        u.bind((bind or src, sport))
        for _ in range(3):
            u.sendto(payload, (dst, port))
            time.sleep(0.1)
        u.close()

    send("239.255.255.250", 1900, b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
         b"MAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n")
    send("224.0.0.251", 5353, b"\x00\x00\x00\x00\x00\x01" + bytes(6) + b"\x05_http\x04_tcp\x05local\x00\x00\x0c\x00\x01",
         sport=5353)
    send("224.0.0.252", 5355, b"\x12\x34\x00\x00\x00\x01" + bytes(6) + b"\x04wpad\x00\x00\x01\x00\x01")
    send("10.78.255.255", 137, b"\x12\x35\x01\x10\x00\x01" + bytes(6) + b"\x20" + b"FHEPFCELEHFCEPFFFACACACACACACAAA"
         + b"\x00\x00\x20\x00\x01", sport=137)
    send("255.255.255.255", 67, b"\x01\x01\x06\x00" + bytes(232) + b"\x63\x82\x53\x63\x35\x01\x01\xff",
         sport=68, bind="0.0.0.0")


COMMANDS = {
    "lan-noise": lan_noise,
    "irc-server": irc_server,
    "irc-client": irc_client,
    "bulk-server": bulk_server,
    "bulk-fetch": bulk_fetch,
    "p2p-listen": p2p_listen,
    "p2p-dial": p2p_dial,
    "p2p-udp": p2p_udp,
    "web-fetch": web_fetch,
    "ntp-server": ntp_server,
    "ntp-client": ntp_client,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
