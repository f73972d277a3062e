# `flowlens gen --format csv` flows → a pcap with one packet per flow (sorted by start time), for
# nfpcapd to make an nfcapd file of the same flows.
import csv, struct, sys, ipaddress, calendar, time
rows = list(csv.DictReader(open(sys.argv[1])))
rows.sort(key=lambda r: r['stime'])
f = open(sys.argv[2], 'wb', buffering=1 << 20)
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
eth = b'\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00'
bits = {'F': 1, 'S': 2, 'R': 4, 'P': 8, 'A': 16, 'U': 32}
def csum(h):
    s = sum(struct.unpack('!10H', h)); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
out = []
for i, r in enumerate(rows):
    if ':' in r['sip']:
        continue
    proto = int(r['proto']); sp = int(r['sport']); dp = int(r['dport'])
    if proto == 6:
        fl = sum(bits.get(c, 0) for c in r['flags']) or 2
        l4 = struct.pack('!HHIIBBHHH', sp, dp, i, 0, 0x50, fl, 65535, 0, 0)
    elif proto == 17:
        l4 = struct.pack('!HHHH', sp, dp, 8 + 20, 0) + b'x' * 20
    elif proto == 1:
        l4 = struct.pack('!BBHHH', dp >> 8, dp & 255, 0, i & 0xffff, 0) + b'p' * 32
    else:
        l4 = b'g' * 24
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), i & 0xffff, 0, 64, proto, 0,
                     ipaddress.IPv4Address(r['sip']).packed, ipaddress.IPv4Address(r['dip']).packed)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    pkt = eth + ip + l4
    st = r['stime']
    sec = calendar.timegm(time.strptime(st[:19], '%Y-%m-%d %H:%M:%S'))
    usec = int(st[20:23]) * 1000 if len(st) > 19 else 0
    out.append(struct.pack('<IIII', sec, usec, len(pkt), len(pkt)) + pkt)
    if len(out) > 10000:
        f.write(b''.join(out)); out.clear()
f.write(b''.join(out)); f.close()
