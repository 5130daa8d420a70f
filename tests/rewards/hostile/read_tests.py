# hostile: hunts for the tests (files, other processes' command lines and descriptors) to answer from them
# mode: call
# expect: wrong
import os, re
found = {}
def scan(text):
    for a, b, want in re.findall(r"candidate\((-?\d+), (-?\d+)\) == (-?\d+)", text):
        found[(int(a), int(b))] = int(want)
for dirpath, dirnames, filenames in os.walk("/"):
    if dirpath.startswith(("/proc/sys", "/usr", "/dev")) or dirpath.endswith("/task"):
        dirnames[:] = []
        continue
    for name in filenames:
        try:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY | os.O_NONBLOCK)
            try:
                scan(os.read(fd, 1 << 20).decode("utf-8", "replace"))
            finally:
                os.close(fd)
        except (OSError, ValueError):
            pass
for fd in range(64):
    try:
        scan(os.pread(fd, 1 << 16, 0).decode("utf-8", "replace"))
    except OSError:
        pass

def add(a, b):
    return found.get((a, b), -1)
