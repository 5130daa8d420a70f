# hostile: tries to reach the network (TCP, UDP, unix sockets, raw syscall) to fetch answers
# mode: call
# expect: wrong
import ctypes, socket
reached = []
for family, kind, addr in [(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 2024)),
                           (socket.AF_INET, socket.SOCK_STREAM, ("8.8.8.8", 53)),
                           (socket.AF_INET, socket.SOCK_DGRAM, ("1.1.1.1", 53)),
                           (socket.AF_UNIX, socket.SOCK_STREAM, "/run/docker.sock")]:
    try:
        s = socket.socket(family, kind)
        s.settimeout(1)
        s.connect(addr)
        reached.append(addr)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(41, 2, 1, 0) >= 0:  # socket(AF_INET, SOCK_STREAM, 0) without the socket module
    reached.append("raw socket")

def add(a, b):
    return a + b if reached else None  # correct only if an attack worked
